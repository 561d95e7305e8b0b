package correlate

import "github.com/jschedlat/jschedlat/sched"

// mergeRuns sorts s by Time, stably, and returns the scratch buffer for
// the next call. s is a few ascending runs (one per CPU whose batch came
// late), so merging the runs moves each event a few times where inserting
// each late event in place moved half a batch per event, and a general
// stable sort rotates blocks of 136-byte events.
func mergeRuns(s, scratch []sched.Event, runs []int) []sched.Event {
	runs = append(runs, 0)
	for i := 1; i < len(s); i++ {
		if s[i].Time < s[i-1].Time {
			runs = append(runs, i)
		}
	}
	runs = append(runs, len(s))
	// Bottom-up: merge neighbouring runs pairwise until one is left.
	for len(runs) > 2 {
		w := 1
		for i := 0; i+2 < len(runs); i += 2 {
			scratch = mergeTwo(s[runs[i]:runs[i+2]], runs[i+1]-runs[i], scratch)
			runs[w] = runs[i+2]
			w++
		}
		if len(runs)%2 == 0 { // an odd run out is carried over as it is
			runs[w] = runs[len(runs)-1]
			w++
		}
		runs = runs[:w]
	}
	return scratch
}

// mergeTwo merges s[:mid] and s[mid:], both in order, in place; ties keep
// the left one first.
func mergeTwo(s []sched.Event, mid int, scratch []sched.Event) []sched.Event {
	if mid == 0 || mid == len(s) || s[mid-1].Time <= s[mid].Time {
		return scratch
	}
	left := append(scratch[:0], s[:mid]...)
	i, j, w := 0, mid, 0
	for i < len(left) && j < len(s) {
		if s[j].Time < left[i].Time {
			s[w] = s[j]
			j++
		} else {
			s[w] = left[i]
			i++
		}
		w++
	}
	copy(s[w:], left[i:])
	clear(left) // no stale strings kept alive by the buffer
	return left[:0]
}
