/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  The time-limit clock: services' step sequences, an application's
 *	  current step, dues and light, and the deadline sweep.
 *
 * IDENTIFICATION
 *	  extension/clock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_CLOCK_H
#define MIAOPI_CLOCK_H

#include "utils/timestamp.h"

#include "service.h"

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

typedef enum MiaopiLight
{
	MIAOPI_LIGHT_GREEN,
	MIAOPI_LIGHT_YELLOW,
	MIAOPI_LIGHT_RED,
	MIAOPI_LIGHT_OVERDUE
} MiaopiLight;

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

/* The clock of one application at one instant */
typedef struct MiaopiClock
{
	MiaopiStep	step;			/* current step, NONE once closed */
	TimestampTz accepted_at;	/* effective acceptance, or NO_TS */
	TimestampTz promised_due;
	TimestampTz statutory_due;
	TimestampTz step_due;
	TimestampTz clock_at;		/* where the decision clock stands */
	bool		has_used;
	int			used;			/* working days used of the promised time */
	int			remaining;		/* working days after clock_at up to promised_due */
	bool		provisional;
	MiaopiLight light;
	bool		yellow;			/* the conditions behind the light */
	bool		red;
	bool		overdue;
	bool		step_red;
	int			within_promised;	/* -1 unknown, 0 no, 1 yes */
	int			within_statutory;
} MiaopiClock;

/* What miaopi_clock_compute must work out beyond dues and steps */
#define MIAOPI_CLOCK_LIGHT			0x01	/* light, yellow included */
#define MIAOPI_CLOCK_USED			0x02	/* used and remaining */
#define MIAOPI_CLOCK_PROVISIONAL	0x04	/* provisional */
#define MIAOPI_CLOCK_ALL			0x07

/* clock.c */
extern void miaopi_clock_compute(const MiaopiService *svc, const MiaopiAppRow *row,
								 TimestampTz now, MiaopiClock *clock, int want);
extern MiaopiStep miaopi_step_after(const MiaopiService *svc, MiaopiStep step);
extern MiaopiStep miaopi_current_step(const MiaopiService *svc, const MiaopiAppRow *row);
extern TimestampTz miaopi_step_due_from(const MiaopiService *svc, MiaopiStep step,
										TimestampTz start, bool *provisional);
extern MiaopiStatus miaopi_status_from_name(const char *name);
extern const char *miaopi_status_name(MiaopiStatus status);
extern const char *miaopi_light_name(MiaopiLight light);

#endif							/* MIAOPI_CLOCK_H */
