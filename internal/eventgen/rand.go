// Package eventgen makes test inputs for the file formats: random strings
// and numbers that stress the writers' and readers' quoting, escaping and
// UTF-8 handling. It imports nothing of the project, so that the tests of
// any package (record, eventlog) can use it.
package eventgen

import (
	"math/rand"
	"strings"
)

// OddStrings are comms and names that stress quoting, escaping and UTF-8
// handling: control bytes, quotes, separators, invalid UTF-8, U+2028.
var OddStrings = []string{
	"", "main", "C2 CompilerThre", `quote"in`, `back\slash`, "tab\there", "nl\nx", "cr\rx", "\x00\x01\x1f",
	"\x7f", "slash/ok", "<html>&amp;", "héllo wörld", "日本語スレッド", "emoji 😀 pool", "\u2028\u2029",
	"\uFFFD", "\xff\xfe", "cut\xe6\x97", "\xed\xa0\x80", " lead", "trail ", "a,b", "\\u0041",
	`\.`, "\vlead", "eight+8,", "seventeen bytes\"x",
}

// String returns one of OddStrings a third of the time, else up to 19
// random bytes and runes: control bytes, runes beyond ASCII, lone
// continuation bytes (not UTF-8), quotes, slashes, printable ASCII.
func String(rng *rand.Rand) string {
	if rng.Intn(3) == 0 {
		return OddStrings[rng.Intn(len(OddStrings))]
	}
	var b strings.Builder
	for n := rng.Intn(20); n > 0; n-- {
		switch rng.Intn(10) {
		case 0:
			b.WriteByte(byte(rng.Intn(0x20)))
		case 1:
			b.WriteRune(rune(0x80 + rng.Intn(0x10000)))
		case 2:
			b.WriteByte(byte(0x80 + rng.Intn(0x80))) // not UTF-8 on its own
		case 3:
			b.WriteByte(`"\/`[rng.Intn(3)])
		default:
			b.WriteByte(byte(0x20 + rng.Intn(0x5f)))
		}
	}
	return b.String()
}

// Uint returns 0, max, a small number or any number up to max/2, a
// quarter of the time each: the edges a number formatter gets wrong.
func Uint(rng *rand.Rand, max uint64) uint64 {
	switch rng.Intn(4) {
	case 0:
		return 0
	case 1:
		return max
	case 2:
		return uint64(rng.Intn(100))
	}
	return rng.Uint64() % (max/2 + 1)
}
