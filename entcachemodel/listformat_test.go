package entcachemodel

import (
	"strconv"
	"testing"
)

// The storage form of lists is part of every list's definition: a process
// of an earlier version, which stored sets, registers "age=abc" and never
// defines a list alike with one that stores sorted sets.
func TestListFormatIsPartOfTheDefinition(t *testing.T) {
	l := newLayout("User", "h", []string{"age"}, []string{"abc"})
	if l.lists != "age=abc"+listFormat || l.defs[0] != "abc"+listFormat {
		t.Fatalf("layout %q (defs %q): the list format is not in the definition", l.lists, l.defs)
	}
	if l.lists == "age=abc" {
		t.Fatal("the layout of the set form and of the sorted-set form are alike")
	}
}

// Scores hold integer ids exactly only up to ±2^53: beyond, no score.
func TestListScores(t *testing.T) {
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"0", true}, {"1", true}, {"-7", true},
		{strconv.Itoa(maxScoreID), true}, {strconv.Itoa(-maxScoreID), true},
		{strconv.Itoa(maxScoreID + 1), false}, {strconv.Itoa(-maxScoreID - 1), false},
		{"18446744073709551615", false}, {"x", false},
	} {
		score, ok := listScoreOf(IntID, c.text)
		if ok != c.ok || ok && score != c.text {
			t.Errorf("listScoreOf(%q) = %q, %v; want ok %v", c.text, score, ok, c.ok)
		}
	}
	if m := listMemberOf(IntID, "12"); m != "12" {
		t.Errorf("integer member %q, want the decimal id", m)
	}
	if m := listMemberOf(StringID, "12"); m != "=12" {
		t.Errorf("text member %q, want =12", m)
	}
	if s, ok := listScoreOf(UUIDID, "ab"); !ok || s != "0" {
		t.Errorf("text score %q, %v", s, ok)
	}
}
