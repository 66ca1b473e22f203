package bench

import (
	"image/color"
	"math"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/paxos-lab/paxos"
)

// pngDPI is the resolution of the PNG figures: a 16 cm figure is 1260
// pixels wide, enough for print.
const pngDPI = 200

// protocolIndex gives every protocol one place in the palette, the same in
// every figure: registered protocols in their registry order
// (paxos.ProtocolInfos), then any other name in the order first asked.
var protocolIndex = map[string]int{}

func protoIndex(proto string) int {
	if len(protocolIndex) == 0 {
		for i, p := range paxos.ProtocolInfos() {
			protocolIndex[p.Name] = i
		}
	}
	i, ok := protocolIndex[proto]
	if !ok {
		i = len(protocolIndex)
		protocolIndex[proto] = i
	}
	return i
}

// protoColor is a protocol's colour in every figure.
func protoColor(proto string) color.Color { return plotutil.Color(protoIndex(proto)) }

// protoShape is a protocol's marker in every figure.
func protoShape(proto string) draw.GlyphDrawer { return plotutil.Shape(protoIndex(proto)) }

// protoDashes is a protocol's line pattern where lines have no markers, so
// that lines which coincide (flexible over multi) stay apart.
func protoDashes(proto string) []vg.Length { return plotutil.Dashes(protoIndex(proto)) }

// variantColor lightens a protocol's colour for its k-th variant (another
// conflict rate or label in the same figure): k = 0 is the colour itself.
func variantColor(c color.Color, k int) color.Color {
	if k == 0 {
		return c
	}
	r, g, b, a := c.RGBA()
	f := 1 - 1/float64(k+1)*0.9 // share of white: 0.55, 0.7, 0.775, ...
	mix := func(v uint32) uint8 { return uint8((float64(v>>8)*(1-f) + 255*f)) }
	return color.NRGBA{R: mix(r), G: mix(g), B: mix(b), A: uint8(a >> 8)}
}

// variants numbers the variants of each protocol in the order given.
type variants map[string][]string

func (v variants) index(proto, key string) int {
	for i, k := range v[proto] {
		if k == key {
			return i
		}
	}
	v[proto] = append(v[proto], key)
	return len(v[proto]) - 1
}

// sortedProtocols sorts protocol names in palette order.
func sortedProtocols(ps []string) {
	sort.SliceStable(ps, func(i, j int) bool { return protoIndex(ps[i]) < protoIndex(ps[j]) })
}

// savePNG writes the figure at pngDPI.
func savePNG(p *plot.Plot, w, h vg.Length, path string) error {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))
	p.Draw(draw.New(c))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// published is one published number placed on a figure: at (X, Value),
// beside our measurement at (X, Ours) when we have one, in colour.
type published struct {
	X, Value, Ours float64
	Color          color.Color
}

// diamond is the marker of a published number: a diamond filled with the
// series' colour and outlined in black, unlike every protocol's marker.
type diamond struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (diamond) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius
	var path vg.Path
	path.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	path.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	path.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	path.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	path.Close()
	c.SetColor(sty.Color)
	c.Fill(path)
	c.SetLineStyle(draw.LineStyle{Color: color.Black, Width: vg.Points(0.8)})
	c.Stroke(path)
}

// publishedLegend is the legend entry of the published numbers: a white
// diamond outlined in black.
type publishedLegend struct{}

// Thumbnail implements plot.Thumbnailer.
func (publishedLegend) Thumbnail(c *draw.Canvas) {
	pt := vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2}
	diamond{}.DrawGlyph(c, draw.GlyphStyle{Color: color.White, Radius: vg.Points(4)}, pt)
}

// addPublished draws published numbers as diamonds, each joined to our
// measurement by a dotted line of its colour; legendPublished adds their
// legend entry.
func addPublished(p *plot.Plot, pts []published) {
	for _, q := range pts {
		if !math.IsNaN(q.Ours) {
			if l, err := plotter.NewLine(plotter.XYs{{X: q.X, Y: q.Ours}, {X: q.X, Y: q.Value}}); err == nil {
				l.Color = q.Color
				l.Width = vg.Points(1)
				l.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
				p.Add(l)
			}
		}
		if sc, err := plotter.NewScatter(plotter.XYs{{X: q.X, Y: q.Value}}); err == nil {
			sc.Shape = diamond{}
			sc.Color = q.Color
			sc.Radius = vg.Points(4)
			p.Add(sc)
		}
	}
}

// legendPublished adds the legend entry "published" when pts has any.
func legendPublished(p *plot.Plot, pts []published) {
	if len(pts) > 0 {
		p.Legend.Add("published", publishedLegend{})
	}
}
