package sqlstore

import "context"

// GetState implements mailbox.StateTx.
func (t *Tx) GetState(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := t.Q.QueryRow(ctx, `SELECT value FROM server_state WHERE key = $1`, key).Scan(&v)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutState implements mailbox.StateTx.
func (t *Tx) PutState(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := t.Q.Exec(ctx, `INSERT INTO server_state (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// NextCounter implements mailbox.StateTx. The UPSERT takes the row lock, so
// concurrent transactions (and several server processes) never see the same
// value.
func (t *Tx) NextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := t.Q.QueryRow(ctx, `INSERT INTO counters (name, value) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
		RETURNING value`, name).Scan(&v)
	return v, err
}

// ReserveCounter implements mailbox.StateTx.
func (t *Tx) ReserveCounter(ctx context.Context, name string, n int64) (int64, error) {
	var v int64
	err := t.Q.QueryRow(ctx, `INSERT INTO counters (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + $2
		RETURNING value`, name, n).Scan(&v)
	return v, err
}
