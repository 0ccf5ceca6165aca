package mail

import (
	"context"
	"fmt"
	netmail "net/mail"
	"strconv"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/mail/smtptest"
)

// HandOff is the result of MeasureHandOff.
type HandOff struct {
	Messages    int
	Connections int
	Bytes       int // size of one message
	Elapsed     time.Duration
	PerSecond   float64
}

// MeasureHandOff renders n personalised ~850-byte-body messages and hands
// them over conns pooled connections to an in-process SMTP sink, with no
// rate cap, and reports messages per second, sink included. It is the
// engine's share of `muster bench send` (which adds the outbox).
func MeasureHandOff(ctx context.Context, n, conns int) (HandOff, error) {
	srv, err := smtptest.New(smtptest.Options{Discard: true})
	if err != nil {
		return HandOff{}, err
	}
	defer srv.Close()
	s, err := NewSender(SenderConfig{URL: srv.URL() + "?tls=none", From: "bounces@bench.example", Connections: conns})
	if err != nil {
		return HandOff{}, err
	}
	defer s.Close()
	p, err := Prepare(Content{
		NationID: 1, BroadcastID: 1, Domain: "bench.example",
		From:    netmail.Address{Name: "Bench", Address: "news@bench.example"},
		Subject: `Bonjour {{first_name | default "ami·e"}}, on compte sur vous`,
		Body: "Bonjour {{first_name | default \"ami·e\"}},\n\nLa réforme des retraites arrive au Parlement la semaine prochaine. " +
			"Nous avons besoin de vous à {{city}} pour en parler autour de vous, au marché, au travail et en famille.\n\n" +
			"[Signez la pétition](https://example.org/petition) et partagez-la avec trois personnes.\n\n" +
			"- Rendez-vous samedi à 10 h\n- Place du Marché\n- Tracts et café offerts\n\nMerci,\nL'équipe",
		Identity:       Identity{OrgName: "Bench asbl", PostalAddress: "Rue de la Loi 16, 1000 Bruxelles"},
		UnsubscribeURL: "https://bench.example/u/", UnsubscribeMailto: "unsubscribe@bench.example",
		Layout: "<html><head><style>a{color:#1a56db}</style></head><body>" + LayoutContent + "</body></html>",
	})
	if err != nil {
		return HandOff{}, err
	}
	key := []byte("bench key")
	work := make(chan int)
	errc := make(chan error, conns)
	var wg sync.WaitGroup
	var size int
	start := time.Now()
	for w := range conns {
		wg.Go(func() {
			var buf []byte
			for i := range work {
				r := Recipient{
					PersonID: int64(i), Email: "p" + strconv.Itoa(i) + "@example.be",
					Fields:           Fields{FirstName: "Jean", City: "Liège"},
					UnsubscribeToken: SignUnsubscribe(key, 1, int64(i), 1),
				}
				var e error
				if buf, e = p.Append(buf[:0], &r); e != nil {
					errc <- e
					return
				}
				if res := s.Send(ctx, Envelope{To: r.Email}, buf); res.Status != Sent {
					errc <- fmt.Errorf("mail: hand-off message %d: %s: %w", i, res.Status, res.Err)
					return
				}
				if w == 0 {
					size = len(buf)
				}
			}
		})
	}
	var sendErr error
feed:
	for i := range n {
		select {
		case work <- i:
		case sendErr = <-errc:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if sendErr == nil && len(errc) > 0 {
		sendErr = <-errc
	}
	if sendErr != nil {
		return HandOff{}, sendErr
	}
	el := time.Since(start)
	return HandOff{Messages: n, Connections: conns, Bytes: size, Elapsed: el, PerSecond: float64(n) / el.Seconds()}, nil
}
