package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func runCmd(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &o, ErrOut: &e}, args)
	return code, o.String(), e.String()
}

func TestCompletion(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantFirst string // first line of stdout, runs of spaces collapsed
		wantErr   string
	}{
		{name: "bash", args: []string{"completion", "bash"}, wantFirst: "# bash completion V2 for kubectl-cadvisor_doctor -*- shell-script -*-"},
		{name: "zsh", args: []string{"completion", "zsh"}, wantFirst: "#compdef kubectl-cadvisor_doctor"},
		{name: "fish", args: []string{"completion", "fish"}, wantFirst: "# fish completion for kubectl-cadvisor_doctor -*- shell-script -*-"},
		{name: "powershell", args: []string{"completion", "powershell"}, wantFirst: "# powershell completion for kubectl-cadvisor_doctor -*- shell-script -*-"},
		{name: "unknown shell", args: []string{"completion", "tcsh"}, wantCode: 2, wantErr: "error: unsupported shell \"tcsh\": want one of bash, zsh, fish, powershell\n"},
		{name: "no shell", args: []string{"completion"}, wantCode: 2, wantErr: "error: completion needs exactly one shell argument (one of bash, zsh, fish, powershell), got 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tt.args...)
			first, _, _ := strings.Cut(out, "\n")
			first = strings.Join(strings.Fields(first), " ")
			got := []any{code, first, errOut}
			want := []any{tt.wantCode, tt.wantFirst, tt.wantErr}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("exit code, first line, stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompleteSubcommands is what kubectl_complete-cadvisor_doctor runs:
// the hidden __complete command lists the subcommands, and the shells for
// completion.
func TestCompleteSubcommands(t *testing.T) {
	tests := []struct {
		args []string
		want []string // completions that must be offered
	}{
		{args: []string{"__complete", ""}, want: []string{"check", "completion", "probe", "version"}},
		{args: []string{"__complete", "completion", ""}, want: completionShells},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			offered := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				word, _, _ := strings.Cut(line, "\t")
				offered[word] = true
			}
			for _, w := range tt.want {
				if !offered[w] {
					t.Errorf("%q not offered; got:\n%s", w, out)
				}
			}
		})
	}
}
