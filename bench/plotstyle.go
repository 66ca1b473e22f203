package bench

import (
	"image/color"
	"os"
	"sort"

	"gonum.org/v1/plot"
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
