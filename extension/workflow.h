/*-------------------------------------------------------------------------
 *
 * workflow.h
 *	  The manual workflow: reading, moving and recording applications.
 *	  Everything here runs inside SPI_connect/SPI_finish, as the owner of
 *	  the application table (miaopi_become_owner).
 *
 * IDENTIFICATION
 *	  extension/workflow.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_WORKFLOW_H
#define MIAOPI_WORKFLOW_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"

#include "clock.h"
#include "ledger.h"

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

/* workflow.c */
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
extern void miaopi_app_accept(const MiaopiService *svc, MiaopiAppRow *row,
							  TimestampTz accepted_at, TimestampTz step_start);
extern void miaopi_event_insert(int64 application_id, TimestampTz at,
								const char *action, const char *actor,
								const char *from_status, const char *to_status,
								const char *comment, const char *detail);
extern bool miaopi_crossings_due(const MiaopiAppRow *row, const MiaopiClock *clock,
								 bool open);
extern int	miaopi_record_crossings(const MiaopiService *svc, MiaopiAppRow *row,
									const MiaopiClock *clock, TimestampTz now,
									bool open);
extern void miaopi_notify(const MiaopiAppRow *row, const char *event,
						  const char *cause, const char *step, TimestampTz due);
extern void miaopi_json_timestamp(StringInfo buf, TimestampTz ts);

#endif							/* MIAOPI_WORKFLOW_H */
