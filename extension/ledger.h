/*-------------------------------------------------------------------------
 *
 * ledger.h
 *	  The audit ledger: canonical forms, SHA-256 hashes and the hash chains
 *	  of applications and events (ledger.c), blocks and digests (seal.c).
 *
 * IDENTIFICATION
 *	  extension/ledger.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_LEDGER_H
#define MIAOPI_LEDGER_H

#include "common/sha2.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"
#include "utils/timestamp.h"

#define MIAOPI_HASH_LEN		PG_SHA256_DIGEST_LENGTH

/* Domain tags, the first field of every canonical form */
#define MIAOPI_TAG_APPLICATION	"miaopi.application.v1"
#define MIAOPI_TAG_EVENT		"miaopi.event.v1"
#define MIAOPI_TAG_BLOCK		"miaopi.block.v1"

/* The chain of events that belong to no application */
#define MIAOPI_SYSTEM_CHAIN		"system"

/*
 * The columns of miaopi.application that its hash covers, in canonical
 * order.  MIAOPI_LEDGER_APP_COLUMNS selects them in that order.
 */
#define MIAOPI_LEDGER_APP_NCOLS 22
#define MIAOPI_LEDGER_APP_COLUMNS \
	"id, service_code, applicant_id, applicant_name, payload, materials," \
	" channel, submitted_at, status, decision, decided_at, decided_by," \
	" ruleset_id, reasons, accepted_at, promised_due, statutory_due," \
	" closed_at, step_due, paused_at, paused_days, clock_flags"

/* The same list, prefixed with a. */
#define MIAOPI_LEDGER_APP_COLUMNS_A \
	"a.id, a.service_code, a.applicant_id, a.applicant_name, a.payload, a.materials," \
	" a.channel, a.submitted_at, a.status, a.decision, a.decided_at, a.decided_by," \
	" a.ruleset_id, a.reasons, a.accepted_at, a.promised_due, a.statutory_due," \
	" a.closed_at, a.step_due, a.paused_at, a.paused_days, a.clock_flags"

/* Positions (0-based) in that list */
typedef enum MiaopiLedgerAppCol
{
	LA_ID,
	LA_SERVICE_CODE,
	LA_APPLICANT_ID,
	LA_APPLICANT_NAME,
	LA_PAYLOAD,
	LA_MATERIALS,
	LA_CHANNEL,
	LA_SUBMITTED_AT,
	LA_STATUS,
	LA_DECISION,
	LA_DECIDED_AT,
	LA_DECIDED_BY,
	LA_RULESET_ID,
	LA_REASONS,
	LA_ACCEPTED_AT,
	LA_PROMISED_DUE,
	LA_STATUTORY_DUE,
	LA_CLOSED_AT,
	LA_STEP_DUE,
	LA_PAUSED_AT,
	LA_PAUSED_DAYS,
	LA_CLOCK_FLAGS
} MiaopiLedgerAppCol;

extern const char *const miaopi_ledger_app_column_names[MIAOPI_LEDGER_APP_NCOLS];

/* One event as its canonical form sees it */
typedef struct MiaopiLedgerEvent
{
	int64		application_id; /* 0: the system chain */
	TimestampTz at;
	const char *action;
	const char *actor;
	const char *session_actor;
	const char *from_status;
	const char *to_status;
	const char *comment;
	Jsonb	   *detail;
	const uint8 *state;			/* the application's hash after it, or NULL */
} MiaopiLedgerEvent;

/* ledger.c */
extern bool miaopi_ledger_hash;

extern void miaopi_sha256(const void *data, size_t len, uint8 *out);
extern void miaopi_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
							uint8 *out);
extern void miaopi_canon_null(StringInfo buf);
extern void miaopi_canon_bytes(StringInfo buf, const void *data, size_t len);
extern void miaopi_canon_cstring(StringInfo buf, const char *s);
extern void miaopi_canon_int(StringInfo buf, int64 v);
extern void miaopi_canon_ts(StringInfo buf, TimestampTz ts);
extern void miaopi_ledger_app_hash(const Datum *values, const bool *nulls, uint8 *out);
extern void miaopi_ledger_event_hash(const uint8 *prev, const MiaopiLedgerEvent *ev,
									 uint8 *out);
extern bool miaopi_ledger_event_columns(void);
extern char *miaopi_hex(const uint8 *hash);
extern bytea *miaopi_hash_bytea(const uint8 *hash);
extern int64 miaopi_ledger_verify_all(Tuplestorestate *store, TupleDesc desc);

/* seal.c */
extern void miaopi_merkle_leaf(const char *kind, int64 row_id, const uint8 *hash,
							   uint8 *out);
extern void miaopi_merkle_root(uint8 (*leaves)[MIAOPI_HASH_LEN], int64 n, uint8 *out);

#endif							/* MIAOPI_LEDGER_H */
