package ent_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A write through tx.Client().Debug() runs inside the transaction, under
// ent's debug wrapper of its driver: it must publish on commit only (it was
// published at once, and a rollback left the uncommitted row cached).
func TestDebugTransactionPublishesOnCommitOnly(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("dbg@x.io", 1)
	_, err := e.client.User.Cached().Get(e.ctx, u.ID) // cached: age 1
	require.NoError(t, err)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Client().Debug().User.UpdateOneID(u.ID).SetAge(99).Exec(e.ctx))
	require.NoError(t, tx.Rollback())
	db, err := e.client.User.Get(e.ctx, u.ID)
	require.NoError(t, err)
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, db.Age, got.Age, "cache holds a rolled-back value")
	tx, err = e.client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Client().Debug().User.UpdateOneID(u.ID).SetAge(7).Exec(e.ctx))
	require.NoError(t, tx.Commit())
	got, err = e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, 7, got.Age, "the commit publishes")
}
