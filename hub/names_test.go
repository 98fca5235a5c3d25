package hub

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"simple", "alice", true},
		{"digits underscore dash", "a_b-9", true},
		{"one char", "x", true},
		{"32 chars", strings.Repeat("a", 32), true},
		{"mixed case", "Alice", true},
		{"empty", "", false},
		{"33 chars", strings.Repeat("a", 33), false},
		{"space", "al ice", false},
		{"leading space", " alice", false},
		{"unicode letter", "alicé", false},
		{"cyrillic look-alike", "аlice", false},
		{"dot dot slash", "../", false},
		{"slash", "a/b", false},
		{"brackets", "[alice]", false},
		{"html", "<b>", false},
		{"newline", "a\nb", false},
		{"nul", "a\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validName(tt.in); got != tt.want {
				t.Fatalf("validName(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuoteShort(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short", "bob", `"bob"`},
		{"control", "a\nb", `"a\nb"`},
		{"cut", strings.Repeat("x", 50), `"` + strings.Repeat("x", 40) + `"...`},
		{"cut on rune boundary", strings.Repeat("x", 39) + "é" + "yyy", `"` + strings.Repeat("x", 39) + `"...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quoteShort(tt.in); got != tt.want {
				t.Fatalf("quoteShort(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
