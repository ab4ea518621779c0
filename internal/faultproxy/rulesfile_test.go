package faultproxy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
)

func TestParseRules(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Rule
		wantErr string
	}{
		{name: "empty object", in: `{}`, want: []Rule{}},
		{name: "empty list", in: `[]`, want: []Rule{}},
		{
			name: "all actions",
			in: `{"rules": [
				{"method": "/containerd.services.tasks.v1.Tasks/Get", "match": "abc", "action": "hang"},
				{"method": "/containerd.services.containers.v1.Containers/Get", "action": "delay", "delay": "1.5s"},
				{"action": "FAIL", "code": "DEADLINE_EXCEEDED", "message": "injected"},
				{"action": "fail", "code": 14},
				{"action": "fail", "code": "Cancelled"},
				{"action": "pass", "match": "x"}
			]}`,
			want: []Rule{
				{Method: "/containerd.services.tasks.v1.Tasks/Get", Match: "abc", Action: Hang},
				{Method: "/containerd.services.containers.v1.Containers/Get", Action: Delay, Delay: 1500 * time.Millisecond},
				{Action: Fail, Code: codes.DeadlineExceeded, Message: "injected"},
				{Action: Fail, Code: codes.Unavailable},
				{Action: Fail, Code: codes.Canceled},
				{Action: Pass, Match: "x"},
			},
		},
		{name: "bare list", in: `[{"action":"hang"}]`, want: []Rule{{Action: Hang}}},
		{name: "unknown field", in: `{"rules":[{"action":"hang","methd":"/x/y"}]}`, wantErr: `parse rules: json: unknown field "methd"`},
		{name: "unknown action", in: `[{"action":"freeze"}]`, wantErr: `parse rules: unknown action "freeze" (want one of pass, delay, hang, fail)`},
		{
			name:    "every bad rule reported",
			in:      `[{"action":"delay"},{"action":"fail"},{"action":"hang","method":"Tasks/Get"},{"action":"fail","code":"Nope"},{"action":"delay","delay":"soon"}]`,
			wantErr: "rule 0: delay rule needs a positive delay, got 0s\nrule 1: fail rule needs a non-OK code\nrule 2: method \"Tasks/Get\" must be a full method starting with /\nrule 3: unknown gRPC code \"Nope\"\nrule 4: delay: time: invalid duration \"soon\"",
		},
		{name: "code out of range", in: `[{"action":"fail","code":17}]`, wantErr: "rule 0: code 17 is not a gRPC code (0-16)"},
		{name: "trailing data", in: `[] []`, wantErr: "parse rules: trailing data after the rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRules([]byte(tt.in))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatRulesRoundTrip(t *testing.T) {
	rules := []Rule{
		{Method: "/containerd.services.tasks.v1.Tasks/Get", Match: "id-1", Action: Hang},
		{Action: Delay, Delay: 250 * time.Millisecond},
		{Action: Fail, Code: codes.ResourceExhausted, Message: "too big"},
		{Action: Pass},
	}
	data, err := FormatRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRules(data)
	if err != nil {
		t.Fatalf("ParseRules(FormatRules(...)): %v\n%s", err, data)
	}
	if diff := cmp.Diff(rules, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
