package record

import (
	"math/rand"
	"strings"
)

// Strings that stress the writers' quoting and UTF-8 handling.
var oddStrings = []string{
	"", "main", "C2 CompilerThre", `quote"in`, `back\slash`, "tab\there", "nl\nx", "cr\rx", "\x00\x01\x1f",
	"\x7f", "slash/ok", "<html>&amp;", "héllo wörld", "日本語スレッド", "emoji 😀 pool", "\u2028\u2029",
	"\uFFFD", "\xff\xfe", "cut\xe6\x97", "\xed\xa0\x80", " lead", "trail ", "a,b", "\\u0041",
}

func randString(rng *rand.Rand) string {
	if rng.Intn(3) == 0 {
		return oddStrings[rng.Intn(len(oddStrings))]
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

func randUint(rng *rand.Rand, max uint64) uint64 {
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
