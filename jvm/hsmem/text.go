package hsmem

import (
	"unicode/utf16"
)

// decodeLatin1 turns a Latin-1 (coder 0) String payload into a string.
func decodeLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// utf16Units reads UTF-16LE code units (coder 1, and JDK 8's char[]).
func utf16Units(b []byte) []uint16 {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return u
}

// decodeUTF16 turns UTF-16LE into a string; a lone surrogate becomes
// U+FFFD, as String.getBytes(UTF_8) makes it '?'.
func decodeUTF16(b []byte) string { return string(utf16.Decode(utf16Units(b))) }

// modifiedUTF8 is what HotSpot hands to pthread_setname_np: each UTF-16
// unit encoded on its own (a supplementary character becomes two 3-byte
// sequences) and NUL as C0 80.
func modifiedUTF8(units []uint16) []byte {
	var out []byte
	for _, c := range units {
		switch {
		case c != 0 && c < 0x80:
			out = append(out, byte(c))
		case c < 0x800:
			out = append(out, 0xc0|byte(c>>6), 0x80|byte(c&0x3f))
		default:
			out = append(out, 0xe0|byte(c>>12), 0x80|byte(c>>6&0x3f), 0x80|byte(c&0x3f))
		}
	}
	return out
}

// commLen is how much of a thread's name the kernel keeps (TASK_COMM_LEN
// minus the NUL): HotSpot cuts bytes, so a multi-byte character may be
// split.
const commLen = 15

// commMatches says whether comm is what the kernel shows for a thread
// that named itself name (as UTF-16 units).
func commMatches(units []uint16, comm string) bool {
	m := modifiedUTF8(units)
	if len(m) > commLen {
		m = m[:commLen]
	}
	return string(m) == comm
}
