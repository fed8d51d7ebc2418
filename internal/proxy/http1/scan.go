package http1

import "bytes"

// HeadScan finds the end of a message head in a growing buffer the way
// Head.ReadHead reads one: empty lines before the start line are skipped,
// and the head ends at the first empty line ("\r\n" or "\n"). The event
// loop uses it on what it has read so far; FuzzHeadScan holds it to
// ReadHead, so that the two engines frame one connection's messages alike.
type HeadScan struct {
	skip    int  // bytes of empty lines before the start line
	pos     int  // where the next line starts
	started bool // the start line began at skip
}

// Next scans what b added since the last call: the head is b[skip:end]
// when ok.
func (s *HeadScan) Next(b []byte) (skip, end int, ok bool) {
	for !s.started {
		switch {
		case s.skip < len(b) && b[s.skip] == '\n':
			s.skip++
		case s.skip+1 < len(b) && b[s.skip] == '\r' && b[s.skip+1] == '\n':
			s.skip += 2
		case s.skip < len(b) && (b[s.skip] != '\r' || s.skip+1 < len(b)):
			s.started, s.pos = true, s.skip
		default:
			return 0, 0, false
		}
	}
	for {
		i := bytes.IndexByte(b[s.pos:], '\n')
		if i < 0 {
			return 0, 0, false
		}
		line := b[s.pos : s.pos+i+1]
		s.pos += i + 1
		if s.pos-len(line) > s.skip && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			return s.skip, s.pos, true
		}
	}
}
