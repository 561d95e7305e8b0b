package record

// Eight bytes at a time ("SIMD within a register") for the CSV writer's
// test of whether a field needs quotes. Each helper works on a
// little-endian load, so byte 0 of the word is the first character.

const (
	lowBits7 = 0x7f7f7f7f7f7f7f7f
	highBits = 0x8080808080808080
)

// leString is le64 of a string (at least 8 bytes).
func leString(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// shortWord is a word of a string of 4 to 7 bytes: its first four bytes
// and its last four (overlapping), so every byte is in it.
func shortWord(s string) uint64 {
	_ = s[3]
	t := s[len(s)-4:]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(t[0])<<32 | uint64(t[1])<<40 | uint64(t[2])<<48 | uint64(t[3])<<56
}

// zeroBytes has the high bit set in each byte of y (high bits clear) that
// is zero.
func zeroBytes(y uint64) uint64 {
	return ^((y + lowBits7) | y) & highBits
}

// csvStops has the high bit set in each byte of w that makes a CSV field
// quoted: '\n', '\r', '"' or ','.
func csvStops(w uint64) uint64 {
	y := w & lowBits7
	return (zeroBytes(y^0x0a0a0a0a0a0a0a0a) | zeroBytes(y^0x0d0d0d0d0d0d0d0d) |
		zeroBytes(y^0x2222222222222222) | zeroBytes(y^0x2c2c2c2c2c2c2c2c)) & ^w & highBits
}

// jsonStops has the high bit set in each byte of w (high bits clear) that
// appendJSONText does not copy as it is: a control character, '"', '\\',
// '<', '>' or '&'.
func jsonStops(w uint64) uint64 {
	const ones = 0x0101010101010101
	below := (w - 0x20*ones) & ^w & highBits // bytes below 0x20
	return below | zeroBytes(w^0x2222222222222222) | zeroBytes(w^0x5c5c5c5c5c5c5c5c) |
		zeroBytes(w^0x3c3c3c3c3c3c3c3c) | zeroBytes(w^0x3e3e3e3e3e3e3e3e) | zeroBytes(w^0x2626262626262626)
}
