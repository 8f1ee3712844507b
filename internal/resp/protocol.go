package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind is a RESP2 reply type, named by its first byte.
type Kind byte

const (
	SimpleString Kind = '+'
	ErrorReply   Kind = '-'
	Integer      Kind = ':'
	BulkString   Kind = '$'
	Array        Kind = '*'
)

// Value is one reply. Null is set for the null bulk string ($-1) and the
// null array (*-1).
type Value struct {
	Kind  Kind
	Str   string // SimpleString, BulkString, ErrorReply
	Int   int64  // Integer
	Array []Value
	Null  bool
}

func (v Value) String() string {
	switch {
	case v.Null:
		return "(nil)"
	case v.Kind == Integer:
		return "(integer) " + strconv.FormatInt(v.Int, 10)
	case v.Kind == Array:
		parts := make([]string, len(v.Array))
		for i, e := range v.Array {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case v.Kind == ErrorReply:
		return "(error) " + v.Str
	}
	return strconv.Quote(v.Str)
}

// ErrProtocol marks replies that are not valid RESP2, or not the reply the
// command expects.
var ErrProtocol = errors.New("redis protocol error")

// Limits on what the server may send: a session store's replies are tiny,
// and a peer that is not Redis must not make the client allocate gigabytes.
const (
	maxLine     = 64 << 10
	maxBulk     = 16 << 20
	maxArray    = 1 << 20
	maxNesting  = 8
	crlf        = "\r\n"
	bulkPrefixN = 16 // room for "$<len>\r\n"
)

// appendCommand encodes args as a RESP array of bulk strings.
func appendCommand(b []byte, args []string) []byte {
	n := bulkPrefixN
	for _, a := range args {
		n += len(a) + bulkPrefixN
	}
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, crlf...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, crlf...)
		b = append(b, a...)
		b = append(b, crlf...)
	}
	return b
}

// readValue reads one reply. An error reply is returned as *Error (with the
// Value too), so that the caller can tell it from a broken stream.
func readValue(r *bufio.Reader, depth int) (Value, error) {
	line, err := readLine(r)
	if err != nil {
		return Value{}, err
	}
	if len(line) == 0 {
		return Value{}, fmt.Errorf("%w: empty line", ErrProtocol)
	}
	kind, rest := Kind(line[0]), line[1:]
	switch kind {
	case SimpleString:
		return Value{Kind: kind, Str: rest}, nil
	case ErrorReply:
		return Value{Kind: kind, Str: rest}, &Error{Msg: rest}
	case Integer:
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("%w: bad integer %q", ErrProtocol, rest)
		}
		return Value{Kind: kind, Int: n}, nil
	case BulkString:
		n, err := strconv.Atoi(rest)
		switch {
		case err != nil || n < -1:
			return Value{}, fmt.Errorf("%w: bad bulk length %q", ErrProtocol, rest)
		case n == -1:
			return Value{Kind: kind, Null: true}, nil
		case n > maxBulk:
			return Value{}, fmt.Errorf("%w: bulk string of %d bytes, more than the %d allowed", ErrProtocol, n, maxBulk)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return Value{}, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return Value{}, fmt.Errorf("%w: bulk string not terminated by CRLF", ErrProtocol)
		}
		return Value{Kind: kind, Str: string(buf[:n])}, nil
	case Array:
		n, err := strconv.Atoi(rest)
		switch {
		case err != nil || n < -1:
			return Value{}, fmt.Errorf("%w: bad array length %q", ErrProtocol, rest)
		case n == -1:
			return Value{Kind: kind, Null: true}, nil
		case n > maxArray:
			return Value{}, fmt.Errorf("%w: array of %d elements, more than the %d allowed", ErrProtocol, n, maxArray)
		case depth >= maxNesting:
			return Value{}, fmt.Errorf("%w: arrays nested deeper than %d", ErrProtocol, maxNesting)
		}
		v := Value{Kind: kind, Array: make([]Value, 0, min(n, 1024))}
		for range n {
			e, err := readValue(r, depth+1)
			var se *Error
			if err != nil && !errors.As(err, &se) {
				return Value{}, err
			}
			v.Array = append(v.Array, e) // an error inside an array is an element
		}
		return v, nil
	}
	return Value{}, fmt.Errorf("%w: unknown reply type %q", ErrProtocol, line[0])
}

// readLine reads up to CRLF and returns the line without it.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, maxLine)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return "", fmt.Errorf("%w: line not terminated by CRLF", ErrProtocol)
	}
	return string(b[:len(b)-2]), nil
}
