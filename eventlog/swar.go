package eventlog

import (
	"encoding/binary"
	"math/bits"
)

// Eight bytes at a time ("SIMD within a register") for the inner loops of
// the event line parser (string contents, keys) and the CSV writer. Digits
// are faster one by one: most numbers are short. Each helper works on a
// little-endian load, so byte 0 of the word is the first character.

const (
	lowBits7 = 0x7f7f7f7f7f7f7f7f
	highBits = 0x8080808080808080
)

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// leString is le64 of a string (at least 8 bytes).
func leString(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// leading returns how many bytes come before the first marked in mask (8
// if none).
func leading(mask uint64) int { return bits.TrailingZeros64(mask) >> 3 }

// zeroBytes has the high bit set in each byte of y (high bits clear) that
// is zero.
func zeroBytes(y uint64) uint64 {
	return ^((y + lowBits7) | y) & highBits
}

// strStops has the high bit set in each ASCII byte of w that ends the
// plain part of a JSON string: '"', '\\' or a control character.
func strStops(w uint64) uint64 {
	y := w & lowBits7
	ctl := ^(y + 0x6060606060606060) // high bit set: y < 0x20
	quote := zeroBytes(y ^ 0x2222222222222222)
	bslash := zeroBytes(y ^ 0x5c5c5c5c5c5c5c5c)
	return (ctl | quote | bslash) & ^w & highBits
}

// key is a literal of up to 16 bytes, compared a word at a time.
type key struct {
	s      string
	w0, m0 uint64
	w1, m1 uint64
}

func mkKey(s string) key {
	if len(s) > 16 {
		panic("key too long: " + s)
	}
	var b, m [16]byte
	copy(b[:], s)
	for i := range s {
		m[i] = 0xff
	}
	return key{s: s, w0: le64(b[:]), m0: le64(m[:]), w1: le64(b[8:]), m1: le64(m[8:])}
}

// at tells whether b holds k at i.
func (k *key) at(b []byte, i int) bool {
	if len(b)-i >= 16 {
		return le64(b[i:])&k.m0 == k.w0 && le64(b[i+8:])&k.m1 == k.w1
	}
	return k.atEnd(b, i)
}

// atEnd is at near the end of b.
func (k *key) atEnd(b []byte, i int) bool {
	return len(b)-i >= len(k.s) && string(b[i:i+len(k.s)]) == k.s
}
