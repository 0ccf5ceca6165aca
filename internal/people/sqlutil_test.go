package people

import "testing"

// TestJSONList checks the one-argument lists of SQLite lookups: exact JSON
// for valid text and integers, and a refusal (so the caller falls back to
// placeholders) for text JSON would alter.
func TestJSONList(t *testing.T) {
	if got, ok := jsonList([]string{`a"b`, "é", `x\y`}); !ok || got != `["a\"b","é","x\\y"]` {
		t.Errorf("jsonList(strings) = %s, %v", got, ok)
	}
	if got, ok := jsonList([]int64{1, -2, 9007199254740993}); !ok || got != `[1,-2,9007199254740993]` {
		t.Errorf("jsonList(ints) = %s, %v", got, ok)
	}
	if _, ok := jsonList([]string{"ok", "bad\xff"}); ok {
		t.Error("jsonList accepted invalid UTF-8")
	}
}
