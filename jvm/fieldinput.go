package jvm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrBinary is returned by DecodeInput for data that is no text of any
// kind it knows (a heap dump, a core file, an archive).
var ErrBinary = errors.New("binary data, not a thread dump")

// DecodeInput returns the text of a dump file as found in the field, for
// the parsers: gzip is unpacked (known by its magic bytes, whatever the
// file's name), UTF-16 becomes UTF-8 (Windows PowerShell's `jstack >
// file` writes UTF-16LE with a byte-order mark), a UTF-8 byte-order mark is
// dropped. steps says what was done ("gzip", "UTF-16LE", ...), nil for
// plain text. modTime is the modification time a gzip header keeps of the
// file it packed (zero when none).
//
// An error reading the rest (a gzip member cut short or corrupt) comes
// from the returned reader; see InputError.
func DecodeInput(r io.Reader) (text io.Reader, steps []string, modTime time.Time, err error) {
	text, steps, modTime, err = decodeInput(r)
	return
}

func decodeInput(r io.Reader) (io.Reader, []string, time.Time, error) {
	var steps []string
	var mod time.Time
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, mod, &InputError{Err: err, Corrupt: !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF}
		}
		steps, mod = append(steps, "gzip"), zr.ModTime
		br = bufio.NewReaderSize(&inputReader{r: zr}, 64<<10)
	}
	head, err := br.Peek(4096)
	if err != nil && err != io.EOF && len(head) == 0 {
		return nil, steps, mod, err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
		return br, append(steps, "UTF-8 with BOM"), mod, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		_, _ = br.Discard(2)
		return &utf16Reader{r: br, le: true}, append(steps, "UTF-16LE"), mod, nil
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		_, _ = br.Discard(2)
		return &utf16Reader{r: br}, append(steps, "UTF-16BE"), mod, nil
	}
	if le, ok := sniffUTF16(head); ok {
		name := "UTF-16BE without BOM"
		if le {
			name = "UTF-16LE without BOM"
		}
		return &utf16Reader{r: br, le: le}, append(steps, name), mod, nil
	}
	if isBinary(head) {
		return nil, steps, mod, ErrBinary
	}
	return br, steps, mod, nil
}

// InputError is a read error of the compressed stream under a dump file.
// Corrupt is false when the data was only cut short: what came before the
// cut is what was written. A corrupt stream (bad checksum or data) may
// have delivered wrong bytes before the error was seen.
type InputError struct {
	Err     error
	Corrupt bool
}

func (e *InputError) Error() string {
	if e.Corrupt {
		return "corrupt gzip data: " + e.Err.Error()
	}
	return "gzip data cut short: " + e.Err.Error()
}

func (e *InputError) Unwrap() error { return e.Err }

// inputReader wraps the errors of a gzip reader into *InputError.
type inputReader struct {
	r io.Reader
}

func (g *inputReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = &InputError{Err: err, Corrupt: !errors.Is(err, io.ErrUnexpectedEOF)}
	}
	return n, err
}

// sniffUTF16 recognises UTF-16 text without a byte-order mark: mostly
// ASCII, so every other byte is zero.
func sniffUTF16(head []byte) (le, ok bool) {
	n := len(head) &^ 1
	if n > 512 {
		n = 512
	}
	if n < 16 {
		return false, false
	}
	var zeroEven, zeroOdd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			zeroEven++
		}
		if head[i+1] == 0 {
			zeroOdd++
		}
	}
	pairs := n / 2
	switch {
	case zeroOdd*10 >= pairs*9 && zeroEven == 0:
		return true, true
	case zeroEven*10 >= pairs*9 && zeroOdd == 0:
		return false, true
	}
	return false, false
}

// isBinary: a thread dump's first lines hold no NUL (a NUL can only come
// inside a thread name), and its text hardly any.
func isBinary(head []byte) bool {
	if bytes.IndexByte(head[:min(len(head), 64)], 0) >= 0 {
		return true
	}
	return bytes.Count(head, []byte{0})*100 > len(head)
}

// utf16Reader turns UTF-16 into UTF-8; unpaired surrogates and a last odd
// byte become U+FFFD.
type utf16Reader struct {
	r   *bufio.Reader
	le  bool
	out []byte
	err error
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		u.fill()
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

func (u *utf16Reader) unit() (uint16, bool) {
	a, err := u.r.ReadByte()
	if err != nil {
		u.err = err
		return 0, false
	}
	b, err := u.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			u.out = utf8.AppendRune(u.out, utf8.RuneError)
		}
		u.err = err
		return 0, false
	}
	if u.le {
		return uint16(a) | uint16(b)<<8, true
	}
	return uint16(a)<<8 | uint16(b), true
}

func (u *utf16Reader) fill() {
	u.out = u.out[:0]
	for len(u.out) < 32<<10 && u.err == nil {
		c, ok := u.unit()
		if !ok {
			return
		}
		r := rune(c)
		if utf16.IsSurrogate(r) {
			if r < 0xDC00 {
				if d, err := u.r.Peek(2); err == nil {
					var c2 uint16
					if u.le {
						c2 = uint16(d[0]) | uint16(d[1])<<8
					} else {
						c2 = uint16(d[0])<<8 | uint16(d[1])
					}
					if r2 := rune(c2); r2 >= 0xDC00 && r2 <= 0xDFFF {
						_, _ = u.r.Discard(2)
						u.out = utf8.AppendRune(u.out, utf16.DecodeRune(r, r2))
						continue
					}
				}
			}
			r = utf8.RuneError
		}
		u.out = utf8.AppendRune(u.out, r)
	}
}
