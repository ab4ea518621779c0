package scale

import (
	"bytes"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.7, 1}, {43.4, 50}, {60, 100}, {937, 1000}, {1000, 1000}, {1001, 2000}, {150, 200}} {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPlots(t *testing.T) {
	pts := []Point{{Sec: 2, Done: 10}, {Sec: 10, Done: 500}, {Sec: 43, Done: 937}}
	var b bytes.Buffer
	if err := WritePNG(&b, pts, 937, 60); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != 640 || got.Y != 400 {
		t.Errorf("size %v, want 640x400", got)
	}
	// The last point (43 s of 100, 937 of 1000) is drawn in the line's
	// colour.
	x, y := 60+241, 20+22 // 43/100 of 560 px, 937/1000 of 340 px
	if got := color.RGBAModel.Convert(img.At(x, y)); got != (color.RGBA{0x1f, 0x77, 0xb4, 0xff}) {
		t.Errorf("pixel at the last point (%d,%d) = %v, want the line's blue", x, y, got)
	}
	var s strings.Builder
	if err := WriteSVG(&s, "a <title>", pts, 937, 60); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a &lt;title&gt;", "target 60s", `points="60.0,350.0 71.2,346.9 116.0,195.0 300.8,59.5"`} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("SVG lacks %q:\n%s", want, s.String())
		}
	}
}
