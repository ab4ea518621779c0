package scale

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"strconv"
)

// digits is a 3x5 bitmap font for the axis numbers (rows top to bottom,
// 3 bits each, high bit left): the standard library has no font.
var digits = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, 's': {0, 3, 6, 1, 6},
}

// WritePNG draws the same plot as WriteSVG as a PNG: completion over time
// in blue, the total as a grey line, the target (limit seconds) in red,
// and numbers on both axes (seconds below, nodes on the left).
func WritePNG(w io.Writer, pts []Point, total int, limit float64) error {
	const (
		width, height = 640, 400
		left, right   = 60, 20
		top, bottom   = 20, 40
	)
	maxX := limit
	for _, p := range pts {
		maxX = max(maxX, p.Sec)
	}
	maxX = niceCeil(maxX)
	maxY := niceCeil(float64(max(total, 1)))
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), color.White)
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	x := func(s float64) int { return left + int(s/maxX*pw+0.5) }
	y := func(d float64) int { return top + int(ph-d/maxY*ph+0.5) }
	grid := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	black := color.RGBA{0, 0, 0, 0xff}
	for i := 0; i <= 5; i++ {
		xv, yv := maxX*float64(i)/5, maxY*float64(i)/5
		line(img, x(xv), top, x(xv), height-bottom, grid, 1)
		line(img, left, y(yv), width-right, y(yv), grid, 1)
		label := strconv.FormatFloat(xv, 'f', -1, 64)
		if i == 5 {
			label += "s"
		}
		lx := x(xv) - len(label)*4
		if i == 5 {
			lx = x(xv) - len(label)*8 // keep the last one inside
		}
		text(img, lx, height-bottom+8, label, black)
		ny := strconv.FormatFloat(yv, 'f', -1, 64)
		text(img, left-8-len(ny)*8, y(yv)-5, ny, black)
	}
	line(img, left, top, left, height-bottom, black, 1)
	line(img, left, height-bottom, width-right, height-bottom, black, 1)
	line(img, left, y(float64(total)), width-right, y(float64(total)), color.RGBA{0x88, 0x88, 0x88, 0xff}, 1)
	if limit > 0 {
		red := color.RGBA{0xcc, 0, 0, 0xff}
		for yy := top; yy < height-bottom; yy += 10 {
			line(img, x(limit), yy, x(limit), min(yy+6, height-bottom), red, 2)
		}
	}
	blue := color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	px, py := x(0), y(0)
	for _, p := range pts {
		nx, ny := x(p.Sec), y(float64(p.Done))
		line(img, px, py, nx, ny, blue, 2)
		fill(img, image.Rect(nx-2, ny-2, nx+3, ny+3), blue)
		px, py = nx, ny
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	r = r.Intersect(img.Bounds())
	for yy := r.Min.Y; yy < r.Max.Y; yy++ {
		for xx := r.Min.X; xx < r.Max.X; xx++ {
			img.Set(xx, yy, c)
		}
	}
}

// line draws a straight line of the given thickness (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color, thick int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(img, image.Rect(x0, y0, x0+thick, y0+thick), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// text draws s with the 3x5 font at twice its size; unknown runes are
// blank.
func text(img *image.RGBA, x, y int, s string, c color.Color) {
	for _, r := range s {
		g := digits[r]
		for row := range 5 {
			for col := range 3 {
				if g[row]&(4>>col) != 0 {
					fill(img, image.Rect(x+col*2, y+row*2, x+col*2+2, y+row*2+2), c)
				}
			}
		}
		x += 8
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
