package main

import (
	"fmt"
	"image/color"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// drawChart writes the throughput and the payload curves side by side into a
// PNG at path.
func drawChart(path string, throughput, payload []series) error {
	tp := plot.New()
	tp.Title.Text = "Throughput (reads/s)"
	tp.X.Label.Text = "goroutines"
	tp.Y.Label.Text = "reads/s"
	tp.X.Scale = plot.LogScale{}
	tp.X.Tick.Marker = plot.ConstantTicks(ticks(goroutineCounts))
	pl := plot.New()
	pl.Title.Text = "One read vs row payload, time / a raw GET of the key"
	pl.X.Label.Text = "nickname bytes"
	pl.Y.Label.Text = "time / raw GET (same rounds)"
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.ConstantTicks(ticks(payloadSizes))
	for _, p := range []struct {
		p *plot.Plot
		s []series
	}{{tp, throughput}, {pl, relative(payload, "raw GET")}} {
		for i, s := range p.s {
			xy := make(plotter.XYs, len(s.x))
			for j := range s.x {
				xy[j].X, xy[j].Y = s.x[j], s.y[j]
			}
			line, points, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			line.Color = colorOf(s.name, i)
			points.Color = line.Color
			p.p.Add(line, points)
			p.p.Legend.Add(s.name, line, points)
		}
		p.p.Legend.Top = true
		p.p.Add(plotter.NewGrid())
	}
	tp.Legend.Left = true
	pl.Legend.Left = true
	tp.Y.Min, pl.Y.Min = 0, 0
	for _, s := range throughput {
		if strings.HasPrefix(s.name, "near") {
			// The near cache answers from memory, orders of magnitude
			// faster: both panels need a log scale.
			for _, p := range []*plot.Plot{tp, pl} {
				p.Y.Min = 0
				p.Y.Scale = plot.LogScale{}
				p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			}
			tp.Y.Min, pl.Y.Min = 1000, 0.01
		}
	}
	img := vgimg.New(12*vg.Inch, 4.5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{tp, pl}}
	canvases := plot.Align(plots, tiles, dc)
	for j := range plots[0] {
		plots[0][j].Draw(canvases[0][j])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// ticks labels the given x values.
func ticks(xs []int) []plot.Tick {
	out := make([]plot.Tick, len(xs))
	for i, x := range xs {
		out[i] = plot.Tick{Value: float64(x), Label: fmt.Sprint(x)}
	}
	return out
}

// relative divides every series but the one named base by base, point by
// point (the sides of a point ran in the same alternating rounds, so their
// ratio is what the noise of the machine moves least), and drops base.
func relative(all []series, base string) []series {
	var b *series
	for i := range all {
		if all[i].name == base {
			b = &all[i]
		}
	}
	if b == nil {
		return all
	}
	var out []series
	for _, s := range all {
		if s.name == base {
			continue
		}
		r := series{name: s.name + " / " + base, x: s.x}
		for j := range s.y {
			r.y = append(r.y, s.y[j]/b.y[j])
		}
		out = append(out, r)
	}
	return out
}

// colorOf gives a series the same color in both panels.
func colorOf(name string, i int) color.Color {
	for k, p := range []string{"cached", "raw", "database", "near"} {
		if strings.HasPrefix(name, p) {
			return palette[k]
		}
	}
	return palette[i%len(palette)]
}
