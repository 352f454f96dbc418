package mailbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/npes/npes/addressing"
)

// Batched routing reads (issue 16). Routing a letter reads the sender's
// mailboxes, the idempotency key, the mailboxes at the recipient's
// delivery point, their credentials and the recipient's mailbox: five or
// six statements in a read-only transaction of its own, per letter — the
// main cost of a submission once the commit is grouped. Like the
// committer, a router takes whatever submissions are waiting and reads for
// all of them at once in one read-only transaction with a few set-based
// statements (sender mailboxes by identity, mailboxes by match key,
// credentials, recipient mailboxes by id, idempotency keys), then routes
// each from what was read. Each submission's routing is the same code as
// before (prepare), run against a Tx that answers those reads from the
// group's results: the same snapshot, so the same decisions.

// maxRouteBatch bounds how many submissions one routing transaction
// carries; routers is how many run at once (one waits on the database
// while the other routes).
const (
	maxRouteBatch = 256
	routers       = 2
)

// routeReq is one submission's routing, run by a router.
type routeReq struct {
	identity  string
	from      string // Submission.FromMailbox
	key       string // idempotency key
	matchKey  string
	recipient string // Submission.RecipientMailbox
	fn        func(ctx context.Context, tx Tx) error
	err       error
	done      chan struct{}
}

type router struct {
	in   chan *routeReq
	stop chan struct{}
	wg   sync.WaitGroup
}

func (s *Service) startRouter() *router {
	s.routerOnce.Do(func() {
		r := &router{in: make(chan *routeReq, maxRouteBatch), stop: make(chan struct{})}
		for range routers {
			r.wg.Add(1)
			go s.runRouter(r)
		}
		s.router = r
	})
	return s.router
}

func (s *Service) closeRouter() {
	r := s.startRouter()
	s.routerClose.Do(func() {
		close(r.stop)
		r.wg.Wait()
	})
}

// routed runs fn for a submission inside a routing transaction shared with
// concurrent submissions. It waits for fn even if ctx ends meanwhile (fn
// writes into the caller's submission).
func (s *Service) routed(ctx context.Context, c Caller, sub Submission, addr addressing.Address, fn func(ctx context.Context, tx Tx) error) error {
	return s.groupRead(ctx, &routeReq{identity: c.Identity.ID, from: sub.FromMailbox, key: sub.IdempotencyKey,
		matchKey: addr.MatchKey(), recipient: sub.RecipientMailbox, fn: fn})
}

// groupRead runs a read of the kind routing does (an identity's
// mailboxes, a mailbox by id and its credentials) in the routers'
// shared transaction: the SMTP gateway's per-message checks (MAIL, RCPT)
// cost no transaction of their own either.
func (s *Service) groupRead(ctx context.Context, req *routeReq) error {
	r := s.startRouter()
	req.done = make(chan struct{})
	select {
	case r.in <- req:
	case <-r.stop:
		return Errorf(ErrUnavailable, "shutting_down", "the server is shutting down; retry")
	case <-ctx.Done():
		return ctx.Err()
	}
	<-req.done
	return req.err
}

func (s *Service) runRouter(r *router) {
	defer r.wg.Done()
	for {
		var first *routeReq
		select {
		case first = <-r.in:
		case <-r.stop:
			for {
				select {
				case req := <-r.in:
					req.err = Errorf(ErrUnavailable, "shutting_down", "the server is shutting down; retry")
					close(req.done)
				default:
					return
				}
			}
		}
		batch := []*routeReq{first}
	drain:
		for len(batch) < maxRouteBatch {
			select {
			case req := <-r.in:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		s.routeBatch(batch)
		for _, req := range batch {
			close(req.done)
		}
	}
}

// routeBatch reads for a group of submissions and routes each. A
// submission whose routing failed for another reason than its own (a
// domain error, or something not found) is routed again alone: one failed statement aborts a
// PostgreSQL transaction for every submission after it.
func (s *Service) routeBatch(batch []*routeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ran := 0
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		rt, err := prefetchRoutes(ctx, tx, batch)
		if err != nil {
			return err
		}
		for _, req := range batch {
			req.err = req.fn(ctx, rt)
			ran++
		}
		return nil
	})
	for i, req := range batch {
		var de *Error
		switch {
		case i >= ran, err != nil && req.err == nil, req.err != nil && !errors.As(req.err, &de) && !errors.Is(req.err, ErrNotFound):
			if len(batch) == 1 {
				if req.err == nil {
					req.err = err
				}
				continue
			}
			req.err = s.cfg.Store.View(ctx, func(tx Tx) error { return req.fn(ctx, tx) })
		}
	}
}

// routeTx answers the reads of routing from what prefetchRoutes read for
// the group; anything else goes to the transaction.
type routeTx struct {
	Tx
	ofIdentity map[string][]Mailbox
	identities map[string]bool
	byKey      map[string][]Mailbox
	keys       map[string]bool
	mailboxes  map[string]Mailbox
	creds      map[string][]Credential
	credsRead  map[string]bool
	idem       map[[2]string]IdempotencyKey
	idemRead   map[[2]string]bool
}

func prefetchRoutes(ctx context.Context, tx Tx, batch []*routeReq) (*routeTx, error) {
	rt := &routeTx{Tx: tx, identities: map[string]bool{}, keys: map[string]bool{}, mailboxes: map[string]Mailbox{},
		credsRead: map[string]bool{}, idem: map[[2]string]IdempotencyKey{}, idemRead: map[[2]string]bool{}}
	var identities, keys, named []string
	for _, req := range batch {
		identities = append(identities, req.identity)
		keys = append(keys, req.matchKey)
		if req.recipient != "" {
			named = append(named, req.recipient)
		}
		rt.identities[req.identity] = true
		rt.keys[req.matchKey] = true
	}
	var err error
	if rt.ofIdentity, err = tx.MailboxesOfIdentities(ctx, identities); err != nil {
		return nil, err
	}
	if rt.byKey, err = tx.MailboxesByMatchKeys(ctx, keys); err != nil {
		return nil, err
	}
	if len(named) > 0 {
		ms, err := tx.GetMailboxes(ctx, named, false)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			rt.mailboxes[m.ID] = m
		}
	}
	// Credentials of every active mailbox routing may deliver to.
	var candidates []string
	for _, ms := range rt.byKey {
		for _, m := range ms {
			rt.mailboxes[m.ID] = m
			if m.Status == StatusActive {
				candidates = append(candidates, m.ID)
			}
		}
	}
	for _, id := range named {
		if _, ok := rt.mailboxes[id]; ok {
			candidates = append(candidates, id)
		}
	}
	if len(candidates) > 0 {
		if rt.creds, err = tx.CredentialsOf(ctx, candidates); err != nil {
			return nil, err
		}
		for _, id := range candidates {
			rt.credsRead[id] = true
		}
	}
	// Idempotency keys by the sending mailbox senderMailbox will pick.
	var ks []IdempotencyKey
	for _, req := range batch {
		if req.key == "" {
			continue
		}
		for _, m := range rt.ofIdentity[req.identity] {
			if m.Status == StatusActive && (req.from == "" || m.ID == req.from) {
				p := [2]string{m.ID, req.key}
				if !rt.idemRead[p] {
					rt.idemRead[p] = true
					ks = append(ks, IdempotencyKey{Sender: m.ID, Key: req.key})
				}
				break
			}
		}
	}
	if len(ks) > 0 {
		got, err := tx.IdempotencyKeys(ctx, ks)
		if err != nil {
			return nil, err
		}
		for _, k := range got {
			rt.idem[[2]string{k.Sender, k.Key}] = k
		}
	}
	return rt, nil
}

func (t *routeTx) MailboxesOfIdentity(ctx context.Context, identityID string) ([]Mailbox, error) {
	if t.identities[identityID] {
		return t.ofIdentity[identityID], nil
	}
	return t.Tx.MailboxesOfIdentity(ctx, identityID)
}

func (t *routeTx) MailboxesByMatchKey(ctx context.Context, key string) ([]Mailbox, error) {
	if t.keys[key] {
		return t.byKey[key], nil
	}
	return t.Tx.MailboxesByMatchKey(ctx, key)
}

func (t *routeTx) GetMailbox(ctx context.Context, id string) (Mailbox, error) {
	if m, ok := t.mailboxes[id]; ok {
		return m, nil
	}
	return t.Tx.GetMailbox(ctx, id)
}

func (t *routeTx) Credentials(ctx context.Context, mailboxID string) ([]Credential, error) {
	if t.credsRead[mailboxID] {
		return t.creds[mailboxID], nil
	}
	return t.Tx.Credentials(ctx, mailboxID)
}

func (t *routeTx) GetIdempotencyKey(ctx context.Context, sender, key string) (string, string, error) {
	p := [2]string{sender, key}
	if t.idemRead[p] {
		k, ok := t.idem[p]
		if !ok {
			return "", "", ErrNotFound
		}
		return k.RequestHash, k.LetterID, nil
	}
	return t.Tx.GetIdempotencyKey(ctx, sender, key)
}
