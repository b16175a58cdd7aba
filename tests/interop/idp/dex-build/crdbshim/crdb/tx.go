// Package crdb is a build shim for Dex v2.13: the 2017 ExecuteTx signature (no context),
// used only by Dex's CockroachDB storage flavour, which the tests never select.
package crdb

import "database/sql"

// ExecuteTx runs fn in a transaction, committing on success and rolling back on error.
func ExecuteTx(db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
