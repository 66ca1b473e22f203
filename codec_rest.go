package paxos

import "github.com/vmihailenco/msgpack/v5"

// DecoderRest returns the input d has not read yet, and true, when d is one
// of the codec's pooled decoders (DecodeMessage, DecodeInto and the
// transport's frames go through them); otherwise nil and false. The bytes
// are the caller's input, valid only as long as it is: keep a copy, not the
// slice. A body's decoder can use it to recognise bytes it decoded before
// (multi: a Commit whose commands are byte for byte those of an Accept).
func DecoderRest(d *msgpack.Decoder) ([]byte, bool) {
	src := sourceOf(d)
	if src == nil {
		return nil, false
	}
	return src.rest(), true
}

// DecoderSkip moves d past the next n bytes of its input, which the caller
// read through DecoderRest (n at most len of what it returned). It does
// nothing for a decoder DecoderRest does not know.
func DecoderSkip(d *msgpack.Decoder, n int) {
	if src := sourceOf(d); src != nil && n > 0 && n <= src.Len() {
		src.skip(n)
	}
}
