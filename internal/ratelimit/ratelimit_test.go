package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func TestBurstThenRefill(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	l := New(30, time.Minute, 3) // one token every 2 s
	l.now = func() time.Time { return clock }
	for i := 0; i < 3; i++ {
		if !l.Allow("a") {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if l.Allow("a") {
		t.Fatal("fourth request allowed past the burst")
	}
	if !l.Allow("b") {
		t.Fatal("another key shares a's bucket")
	}
	clock = clock.Add(1900 * time.Millisecond)
	if l.Allow("a") {
		t.Fatal("allowed before a token refilled")
	}
	clock = clock.Add(200 * time.Millisecond)
	if !l.Allow("a") {
		t.Fatal("refused after a token refilled")
	}
}

func TestSweepBoundsMemory(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	l := New(60, time.Minute, 1)
	l.now = func() time.Time { return clock }
	for i := 0; i < maxBuckets; i++ {
		l.Allow(strconv.Itoa(i))
	}
	clock = clock.Add(time.Minute) // every bucket has refilled: no information left
	l.Allow("new")
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after a sweep, want 1", len(l.buckets))
	}
}
