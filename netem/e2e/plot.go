// The plot: download goodput against loss, one panel per path family
// (rate × RTT) that has several loss values, one line per sender (the
// median over the repetitions, a whisker down to the minimum) and the
// ideal rate × (1 − loss) dashed. Drawn with image/png and a handful of
// rasterization helpers, so the repository needs no plotting dependency
// for one figure.

package e2e

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"sort"
	"strconv"
)

var (
	colBG     = color.RGBA{255, 255, 255, 255}
	colAxis   = color.RGBA{40, 40, 40, 255}
	colGrid   = color.RGBA{225, 225, 225, 255}
	colIdeal  = color.RGBA{140, 140, 140, 255}
	colSender = map[string]color.RGBA{
		KernelCubic.Name: {31, 119, 180, 255},
		KernelBBR.Name:   {44, 160, 44, 255},
		UstackBBR.Name:   {214, 39, 40, 255},
		UstackCubic.Name: {255, 127, 14, 255},
	}
)

// family groups the paths of one rate × RTT.
type family struct {
	name   string
	rate   uint64
	losses []float64
	paths  []Path
}

func families(res *Results) []family {
	var fams []family
	idx := map[string]int{}
	for _, c := range res.Cells {
		if !c.Download {
			continue
		}
		f := c.Path.Family()
		i, ok := idx[f]
		if !ok {
			i = len(fams)
			idx[f] = i
			fams = append(fams, family{name: f, rate: c.Path.Rate})
		}
		seen := false
		for _, p := range fams[i].paths {
			if p == c.Path {
				seen = true
			}
		}
		if !seen {
			fams[i].paths = append(fams[i].paths, c.Path)
			fams[i].losses = append(fams[i].losses, c.Path.Loss)
		}
	}
	var out []family
	for _, f := range fams {
		sort.Slice(f.paths, func(a, b int) bool { return f.paths[a].Loss < f.paths[b].Loss })
		sort.Float64s(f.losses)
		if len(f.losses) >= 2 {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = fams // a single loss value still makes a (one-point) panel
	}
	return out
}

// Plot draws the figure.
func Plot(res *Results) *image.RGBA {
	const (
		pw, ph               = 440, 360
		left, right, top, bo = 78, 24, 44, 64
		legendH, titleH      = 56, 44
		s                    = 2 // font scale
	)
	fams := families(res)
	n := max(len(fams), 1)
	// Legend entries, drawn last; they set the minimum width.
	type entry struct {
		label string
		c     color.RGBA
		dash  int
	}
	var ents []entry
	for _, snd := range res.Senders {
		if c, ok := colSender[snd.Name]; ok {
			ents = append(ents, entry{snd.Label(), c, 0})
		}
	}
	ents = append(ents, entry{"RATE×(1-LOSS)", colIdeal, 6})
	total := 0
	for _, e := range ents {
		total += 40 + textWidth(e.label, s) + 30
	}
	W, H := max(n*pw, total+40, 960), titleH+ph+legendH
	off := (W - n*pw) / 2 // centres fewer panels
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fillRect(img, 0, 0, W, H, colBG)
	title := "DOWNLOAD GOODPUT VS RANDOM LOSS (MEDIAN OF REPETITIONS, WHISKER TO MIN)"
	drawText(img, (W-textWidth(title, s))/2, 14, title, s, colAxis)

	for fi, f := range fams {
		x0 := off + fi*pw + left
		y0 := titleH + top
		w := pw - left - right
		h := ph - top - bo
		ymax := float64(f.rate) / 1e6
		ypix := func(v float64) int { return y0 + h - int(math.Round(v/ymax*float64(h))) }
		xpix := func(i int) int {
			if len(f.losses) == 1 {
				return x0 + w/2
			}
			return x0 + 14 + i*(w-28)/(len(f.losses)-1)
		}
		// Panel title, grid, axes, ticks.
		drawText(img, x0+(w-textWidth(f.name, s))/2, titleH+12, f.name, s, colAxis)
		for k := 0; k <= 5; k++ {
			v := ymax * float64(k) / 5
			y := ypix(v)
			line(img, x0, y, x0+w, y, colGrid, 1, 0)
			lab := strconv.FormatFloat(v, 'f', -1, 64)
			drawText(img, x0-8-textWidth(lab, s), y-7, lab, s, colAxis)
		}
		line(img, x0, y0, x0, y0+h, colAxis, 1, 0)
		line(img, x0, y0+h, x0+w, y0+h, colAxis, 1, 0)
		for i, l := range f.losses {
			x := xpix(i)
			line(img, x, y0+h, x, y0+h+5, colAxis, 1, 0)
			lab := strconv.FormatFloat(l*100, 'f', -1, 64)
			drawText(img, x-textWidth(lab, s)/2, y0+h+10, lab, s, colAxis)
		}
		xl := "LOSS (%)"
		drawText(img, x0+(w-textWidth(xl, s))/2, y0+h+34, xl, s, colAxis)
		if fi == 0 {
			yl := "MBIT/S"
			drawTextUp(img, off+8, y0+(h+textWidth(yl, s))/2, yl, s, colAxis)
		}
		// Ideal.
		for i := 1; i < len(f.paths); i++ {
			a, b := f.paths[i-1], f.paths[i]
			line(img, xpix(i-1), ypix(a.Ideal()/1e6), xpix(i), ypix(b.Ideal()/1e6), colIdeal, 1, 6)
		}
		// Senders.
		for _, snd := range res.Senders {
			c, ok := colSender[snd.Name]
			if !ok {
				continue
			}
			px, py := -1, -1
			for i, p := range f.paths {
				cell := res.Cell(p, snd.Name, true)
				if cell == nil || len(cell.Samples) == 0 {
					px = -1
					continue
				}
				x, y := xpix(i), ypix(cell.Median()/1e6)
				if px >= 0 {
					line(img, px, py, x, y, c, 2, 0)
				}
				line(img, x, y, x, ypix(cell.Min()/1e6), c, 1, 0)
				fillRect(img, x-3, y-3, 7, 7, c)
				px, py = x, y
			}
		}
	}
	// Legend.
	x := max((W-total)/2, 10)
	y := titleH + ph + 20
	for _, e := range ents {
		th := 2
		if e.dash > 0 {
			th = 1
		}
		line(img, x, y+7, x+32, y+7, e.c, th, e.dash)
		drawText(img, x+40, y, e.label, s, colAxis)
		x += 40 + textWidth(e.label, s) + 30
	}
	return img
}

// WritePNG encodes the figure.
func WritePNG(w io.Writer, res *Results) error {
	return png.Encode(w, Plot(res))
}

// line draws a line of the given thickness; dash > 0 draws dashes of that
// many pixels.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color, thick, dash int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	err := dx + dy
	for step := 0; ; step++ {
		if dash <= 0 || (step/dash)%2 == 0 {
			o := (thick - 1) / 2
			fillRect(img, x0-o, y0-o, thick, thick, c)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
