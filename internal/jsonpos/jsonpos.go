// Package jsonpos says where in a JSON document a decoding error is, so a
// user who mistyped a file by hand is told the line and column to fix.
package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Error returns err, from decoding data, prefixed with the line and column
// it refers to when it carries an offset (a syntax error, or a value of the
// wrong type). Other errors, and nil, come back unchanged.
func Error(data []byte, err error) error {
	var offset int64
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	default:
		return err
	}
	line, col := Position(data, offset)
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// Position returns the 1-based line and column of the byte before offset
// (the decoder reports the offset just past the byte it stopped at).
func Position(data []byte, offset int64) (line, col int) {
	i := int(min(max(offset-1, 0), int64(len(data))))
	before := data[:i]
	line = bytes.Count(before, []byte("\n")) + 1
	col = i - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
