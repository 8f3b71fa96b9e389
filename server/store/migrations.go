package store

import (
	"context"
	"database/sql"
)

// A migration is one step of the schema's history: it brings the schema from
// version-1 to version. Open applies every step above the database's version,
// in order, all of them in one transaction, after writing a backup copy of the
// database file (see migrate.go).
//
// To change the schema, append a step with the next version number: SQL for
// schema changes, in SQLite's dialect (sql) and PostgreSQL's (postgres), or
// apply for data changes SQL cannot express (then both are empty; apply's
// queries are written once, see dialect.go). TestSchemasAgree checks that
// both dialects' steps build the same tables, columns and indexes. Never edit or reorder a step that has been on main: data directories
// out there are already past it. TestMigrationsAreOrdered checks the numbering,
// TestFixtureMigratesInPlace checks that a data directory of the first release
// still opens.
type migration struct {
	version  int
	name     string
	sql      string // SQLite
	postgres string // the same step in PostgreSQL (migrations_postgres.go)
	apply    func(ctx context.Context, tx *sql.Tx) error
}

var migrations = []migration{
	{version: 1, name: "tokens and events", sql: `
	CREATE TABLE tokens (
		id         INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL UNIQUE,
		hash       TEXT    NOT NULL UNIQUE,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE events (
		id            INTEGER PRIMARY KEY,
		created_at    INTEGER NOT NULL,
		token_name    TEXT    NOT NULL,
		type          TEXT    NOT NULL,
		completion_id TEXT    NOT NULL,
		choice_index  INTEGER NOT NULL,
		view_id       TEXT    NOT NULL DEFAULT '',
		elapsed_ms    INTEGER,
		select_kind   TEXT    NOT NULL DEFAULT '',
		language      TEXT    NOT NULL DEFAULT ''
	);
	CREATE INDEX events_language_type ON events(language, type);`,
		postgres: pgTokensAndEvents},
	{version: 2, name: "accounts: users, sessions, invitations; tokens' owner and last use; events' latency",
		sql: accountsMigration, postgres: pgAccounts},
	{version: 3, name: "device codes: editor sign-in without copying a token (RFC 8628)",
		sql: deviceCodesMigration, postgres: pgDeviceCodes},
	{version: 4, name: "usage summaries: completions per day, token and language; latency histograms",
		sql: usageSummaryMigration, postgres: pgUsageSummary},
	{version: 5, name: "usage summaries: accepted choices that were not the first candidate",
		sql: usageChoicesMigration, postgres: pgUsageChoices},
	{version: 6, name: "audit log: security events, append-only",
		sql: auditMigration, postgres: pgAudit},
	{version: 7, name: "identities: accounts linked to OpenID providers and LDAP directories",
		sql: identitiesMigration, postgres: pgIdentities},
}

// SchemaVersion is the version Open migrates to: the last step's.
var SchemaVersion = len(migrations)
