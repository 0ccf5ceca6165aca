package pages

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Topic is a subject people can subscribe to ("which subjects interest
// you"); broadcasts can go to a topic's subscribers and subscribed:SLUG
// finds them.
type Topic struct {
	ID          int64
	Slug        string
	Names       map[string]string // language → name
	Subscribers int64             // filled by Topics
}

// Name returns the topic's name in lang, else in another language, else its slug.
func (t Topic) Name(lang string) string {
	if n := t.Names[lang]; n != "" {
		return n
	}
	for _, l := range []string{"en", "fr", "nl"} {
		if n := t.Names[l]; n != "" {
			return n
		}
	}
	return t.Slug
}

// ValidateTopic checks and trims a topic.
func ValidateTopic(t *Topic) Problems {
	var ps Problems
	t.Slug = strings.TrimSpace(t.Slug)
	if code := ValidSlug(t.Slug); code != "" && code != "slug_reserved" {
		ps.add("slug", code, 0)
	}
	names := map[string]string{}
	for l, n := range t.Names {
		n = strings.TrimSpace(n)
		if utf8.RuneCountInString(n) > 100 {
			ps.add("name_"+l, "too_long", 100)
		}
		if n != "" {
			names[l] = n
		}
	}
	t.Names = names
	return ps
}

// CreateTopic adds a topic to a nation.
func (s *Store) CreateTopic(ctx context.Context, nationID int64, t *Topic) error {
	defer s.invalidateTopics(nationID)
	names, _ := json.Marshal(t.Names)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := tx.NextID(ctx, nationID, "topics")
		if err != nil {
			return err
		}
		t.ID = id
		_, err = tx.Exec(ctx, `INSERT INTO topics (nation_id, id, slug, names, created_at) VALUES (?, ?, ?, ?, ?)`,
			nationID, id, t.Slug, string(names), store.Millis(s.now()))
		return err
	})
	if store.IsUniqueViolation(err) {
		return errs.InvalidField("slug", "a topic with this slug already exists")
	}
	if err != nil {
		return fmt.Errorf("pages: create topic: %w", err)
	}
	return nil
}

// UpdateTopicNames renames a topic (its slug stays: filters use it).
func (s *Store) UpdateTopicNames(ctx context.Context, nationID, id int64, names map[string]string) error {
	defer s.invalidateTopics(nationID)
	raw, _ := json.Marshal(names)
	res, err := s.db.Exec(ctx, `UPDATE topics SET names = ? WHERE nation_id = ? AND id = ?`, string(raw), nationID, id)
	if err != nil {
		return fmt.Errorf("pages: rename topic: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.NotFound("topic not found")
	}
	return nil
}

// DeleteTopic removes a topic and its subscriptions.
func (s *Store) DeleteTopic(ctx context.Context, nationID, id int64) error {
	defer s.invalidateTopics(nationID)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM topics WHERE nation_id = ? AND id = ?`, nationID, id)
		if err != nil {
			return fmt.Errorf("pages: delete topic: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.NotFound("topic not found")
		}
		_, err = tx.Exec(ctx, `DELETE FROM topic_subscriptions WHERE nation_id = ? AND topic_id = ?`, nationID, id)
		return err
	})
}

// TopicByID returns one topic.
func (s *Store) TopicByID(ctx context.Context, nationID, id int64) (*Topic, error) {
	var t Topic
	var names string
	err := s.db.QueryRow(ctx, `SELECT id, slug, names FROM topics WHERE nation_id = ? AND id = ?`, nationID, id).Scan(&t.ID, &t.Slug, &names)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("topic not found")
	}
	if err != nil {
		return nil, fmt.Errorf("pages: topic: %w", err)
	}
	_ = json.Unmarshal([]byte(names), &t.Names)
	return &t, nil
}

// Topics lists a nation's topics by slug, with their current subscriber counts.
func (s *Store) Topics(ctx context.Context, nationID int64) ([]Topic, error) {
	rows, err := s.db.Query(ctx, `SELECT t.id, t.slug, t.names,
		(SELECT COUNT(*) FROM topic_subscriptions ts WHERE ts.nation_id = t.nation_id AND ts.topic_id = t.id AND ts.status = 'subscribed')
		FROM topics t WHERE t.nation_id = ? ORDER BY t.slug`, nationID)
	if err != nil {
		return nil, fmt.Errorf("pages: topics: %w", err)
	}
	defer rows.Close()
	var out []Topic
	for rows.Next() {
		var t Topic
		var names string
		if err := rows.Scan(&t.ID, &t.Slug, &names, &t.Subscribers); err != nil {
			return nil, fmt.Errorf("pages: topics: %w", err)
		}
		_ = json.Unmarshal([]byte(names), &t.Names)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Subscriptions returns the slugs of the topics a person is subscribed to.
func (s *Store) Subscriptions(ctx context.Context, nationID, personID int64) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT t.slug FROM topic_subscriptions ts JOIN topics t ON t.nation_id = ts.nation_id AND t.id = ts.topic_id
		WHERE ts.nation_id = ? AND ts.person_id = ? AND ts.status = 'subscribed' ORDER BY t.slug`, nationID, personID)
	if err != nil {
		return nil, fmt.Errorf("pages: subscriptions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			return nil, err
		}
		out = append(out, slug)
	}
	return out, rows.Err()
}
