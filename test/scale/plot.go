package scale

import (
	"fmt"
	"io"
	"strings"
)

// WriteSVG draws completion over time (targeted nodes done vs seconds
// since the plugin started) as a small standalone SVG line plot, with a
// dashed line at limit seconds (the target) when limit > 0.
func WriteSVG(w io.Writer, title string, pts []Point, total int, limit float64) error {
	const (
		width, height = 640, 400
		left, right   = 60, 20
		top, bottom   = 40, 50
	)
	maxX := limit
	for _, p := range pts {
		maxX = max(maxX, p.Sec)
	}
	maxX = niceCeil(maxX)
	maxY := niceCeil(float64(max(total, 1)))
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	x := func(s float64) float64 { return float64(left) + s/maxX*pw }
	y := func(d float64) float64 { return float64(top) + ph - d/maxY*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14">%s</text>`+"\n", left, escape(title))
	for i := 0; i <= 5; i++ {
		xv, yv := maxX*float64(i)/5, maxY*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(xv), top, x(xv), height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", x(xv), height-bottom+16, xv)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(yv), width-right, y(yv))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", left-6, y(yv)+4, yv)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">seconds since the plugin started</text>`+"\n", float64(left)+pw/2, height-12)
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">targeted nodes done</text>`+"\n", float64(top)+ph/2)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#888" stroke-dasharray="2 3"/>`+"\n", left, y(float64(total)), width-right, y(float64(total)))
	if limit > 0 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" stroke-dasharray="6 4"/>`+"\n", x(limit), top, x(limit), height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#c00" text-anchor="end">target %gs</text>`+"\n", x(limit)-4, top+14, limit)
	}
	var path []string
	path = append(path, fmt.Sprintf("%.1f,%.1f", x(0), y(0)))
	for _, p := range pts {
		path = append(path, fmt.Sprintf("%.1f,%.1f", x(p.Sec), y(float64(p.Done))))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", strings.Join(path, " "))
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#1f77b4"/>`+"\n", x(p.Sec), y(float64(p.Done)))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
