/*-------------------------------------------------------------------------
 *
 * application.h
 *	  Reading, locking and updating application rows, and appending their
 *	  events.  Everything here runs inside SPI_connect/SPI_finish, as the
 *	  owner of the application table (miaopi_become_owner).
 *
 * IDENTIFICATION
 *	  extension/application.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_APPLICATION_H
#define MIAOPI_APPLICATION_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"

#include "ledger.h"
#include "utils/timestamp.h"

/* A timestamp column that is NULL */
#define MIAOPI_NO_TS		DT_NOBEGIN
#define MIAOPI_HAS_TS(t)	((t) != MIAOPI_NO_TS)

/* Working days within which a pending application must be acted on (art. 32) */
#define MIAOPI_DEEMED_ACCEPTANCE_DAYS	5

/* The most working days a licence may be extended by (art. 42) */
#define MIAOPI_MAX_EXTENSION_DAYS		10

/* application.clock_flags bits */
#define MIAOPI_FLAG_YELLOW			0x0001	/* yellow crossing recorded */
#define MIAOPI_FLAG_RED				0x0002	/* promised_due crossing recorded */
#define MIAOPI_FLAG_OVERDUE			0x0004	/* statutory_due crossing recorded */
#define MIAOPI_FLAG_STEP_RED		0x0008	/* current step's breach recorded */
#define MIAOPI_FLAG_FROM_REVIEWED	0x0010	/* supplement requested once reviewed */
#define MIAOPI_FLAG_SUPPLEMENT_PRE	0x0020	/* supplement requested before acceptance */
#define MIAOPI_FLAG_SUPPLEMENT_POST 0x0040	/* supplement requested after acceptance */
#define MIAOPI_FLAG_PROVISIONAL		0x0080	/* a due was computed past published_through */
/*
 * Bits 16..23 count the workflow actions taken on the application (act(),
 * saturating at 255), for the statistics' average steps; stats views read
 * them as (clock_flags >> 16) & 255.
 */
#define MIAOPI_FLAG_STEPS_SHIFT		16
#define MIAOPI_FLAG_STEPS_MASK		0x00FF0000
#define MIAOPI_FLAGS_ADD_STEP(f) \
	((((f) & MIAOPI_FLAG_STEPS_MASK) == MIAOPI_FLAG_STEPS_MASK) ? (f) : \
	 ((f) + (1 << MIAOPI_FLAG_STEPS_SHIFT)))

typedef enum MiaopiStatus
{
	MIAOPI_ST_PENDING,
	MIAOPI_ST_SUPPLEMENT,
	MIAOPI_ST_ACCEPTED,
	MIAOPI_ST_REVIEWED,
	MIAOPI_ST_APPROVED,
	MIAOPI_ST_REJECTED,
	MIAOPI_ST_REFUSED,
	MIAOPI_ST_WITHDRAWN,
	MIAOPI_ST_REVOKED,			/* approved, then withdrawn: a commitment failed */
	MIAOPI_ST_UNKNOWN
} MiaopiStatus;

/* The workflow columns of one application */
typedef struct MiaopiAppRow
{
	int64		id;
	char	   *service_code;
	MiaopiStatus status;
	char	   *decision;
	char	   *decided_by;
	TimestampTz submitted_at;
	TimestampTz accepted_at;
	TimestampTz decided_at;
	TimestampTz closed_at;
	TimestampTz promised_due;
	TimestampTz statutory_due;
	TimestampTz step_due;
	TimestampTz paused_at;
	int32		paused_days;
	int32		clock_flags;
} MiaopiAppRow;


/* Advisory lock keys (objid 2 form): the system chain, and seal() */
#define MIAOPI_LOCK_KEY				0x6D69616F	/* "miao" */
#define MIAOPI_LOCK_SYSTEM_CHAIN	1
#define MIAOPI_LOCK_SEAL			2

/*
 * Events collected instead of written, while miaopi_event_buffer points at
 * one (sweep): the collector chains them (miaopi_event_buf_chain) once it
 * knows the application's row and head, and writes them in one INSERT.
 */
typedef struct MiaopiEventBuf
{
	MemoryContext cxt;			/* holds the events; reset by flush */
	int			n;
	int			cap;
	MiaopiLedgerEvent *ev;
	uint8		(*state)[MIAOPI_HASH_LEN];
	uint8		(*prev)[MIAOPI_HASH_LEN];
	bool	   *has_prev;
	uint8		(*hash)[MIAOPI_HASH_LEN];
} MiaopiEventBuf;

extern MiaopiEventBuf *miaopi_event_buffer;

/* The columns miaopi_app_from_tuple reads, in its order */
#define MIAOPI_APP_COLUMNS \
	"id, service_code, status, decision, decided_by, submitted_at, accepted_at," \
	" decided_at, closed_at, promised_due, statutory_due, step_due, paused_at," \
	" paused_days, clock_flags"

/* NOTIFY channel of deadline crossings and deemed acceptances */
#define MIAOPI_DEADLINE_CHANNEL "miaopi_deadline"

/* application.c */
extern MiaopiStatus miaopi_status_from_name(const char *name);
extern const char *miaopi_status_name(MiaopiStatus status);
extern SPIPlanPtr miaopi_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs,
								   Oid *argtypes);
extern void miaopi_app_from_tuple(HeapTuple tuple, TupleDesc tupdesc,
								  MiaopiAppRow *row);
extern bool miaopi_app_lock(int64 id, bool skip_locked, MiaopiAppRow *row);
extern void miaopi_app_update(const MiaopiAppRow *row);
extern void miaopi_app_update_batch(const MiaopiAppRow *rows, int n);
extern bool miaopi_app_chain_head(int64 id, uint8 *state, uint8 *prev, bool *has_prev);
extern void miaopi_event_begin_deciding(int64 id);
extern void miaopi_event_flush_deciding(const uint8 *hash);
extern void miaopi_event_buf_chain(MiaopiEventBuf *buf, int from, const uint8 *state,
								   const uint8 *head, bool has_head);
extern void miaopi_event_buf_flush(MiaopiEventBuf *buf);
extern void miaopi_event_insert(int64 application_id, TimestampTz at,
								const char *action, const char *actor,
								const char *from_status, const char *to_status,
								const char *comment, const char *detail);
extern void miaopi_notify(const MiaopiAppRow *row, const char *event,
						  const char *cause, const char *step, TimestampTz due);
extern void miaopi_json_timestamp(StringInfo buf, TimestampTz ts);

#endif							/* MIAOPI_APPLICATION_H */
