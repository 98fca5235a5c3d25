package main

import (
	"flag"
	"fmt"

	"edgews/engine"
)

// onOff is a flag taking "on" or "off" (as --compression does, like Ktor's
// and the peers' settings), stored in a bool.
type onOff struct{ b *bool }

func (f onOff) String() string {
	if f.b != nil && *f.b {
		return "on"
	}
	return "off"
}

func (f onOff) Set(s string) error {
	switch s {
	case "on", "true": // true: as the peers' bool --compression=true
		*f.b = true
	case "off", "false":
		*f.b = false
	default:
		return fmt.Errorf("want on or off, not %q", s)
	}
	return nil
}

// addCompressionFlags registers the permessage-deflate flags and returns
// their names for --help's group.
func addCompressionFlags(fs *flag.FlagSet, e *engine.Config) []string {
	fs.Var(onOff{&e.Compression}, "compression", "permessage-deflate (RFC 7692) with clients that offer it (every browser does): `off|on`; any valid offer is answered with no context takeover (no flate state per connection), others are declined, never refused; chat JSON goes out at ~40% of its size for less server CPU per broadcast delivery (README: Compression)")
	fs.IntVar(&e.CompressionThreshold, "compression-threshold", engine.DefaultCompressionThreshold, "smallest message in bytes sent compressed; smaller ones go plain (0 = every message)")
	fs.IntVar(&e.CompressionLevel, "compression-level", engine.DefaultCompressionLevel, "deflate level, 1 (fastest) to 9 (smallest)")
	return []string{"compression", "compression-threshold", "compression-level"}
}

// checkCompression refuses values the engine would silently replace, and
// maps --compression-threshold 0 (every message) to the engine's -1.
func checkCompression(e *engine.Config) error {
	if e.CompressionLevel < 1 || e.CompressionLevel > 9 {
		return fmt.Errorf("--compression-level %d: want 1 to 9", e.CompressionLevel)
	}
	if e.CompressionThreshold < 0 {
		return fmt.Errorf("--compression-threshold %d: want 0 or more", e.CompressionThreshold)
	}
	if e.CompressionThreshold == 0 {
		e.CompressionThreshold = -1
	}
	return nil
}
