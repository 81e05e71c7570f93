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

#include "application.h"
#include "service.h"

typedef enum MiaopiLight
{
	MIAOPI_LIGHT_GREEN,
	MIAOPI_LIGHT_YELLOW,
	MIAOPI_LIGHT_RED,
	MIAOPI_LIGHT_OVERDUE
} MiaopiLight;

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
extern const char *miaopi_light_name(MiaopiLight light);

/* Steps and crossings, as the workflow and sweep record them (clock.c) */
extern void miaopi_enter_step(const MiaopiService *svc, MiaopiAppRow *row,
							  MiaopiStep step, TimestampTz start);
extern void miaopi_app_accept(const MiaopiService *svc, MiaopiAppRow *row,
							  TimestampTz accepted_at, TimestampTz step_start);
extern bool miaopi_crossings_due(const MiaopiAppRow *row, const MiaopiClock *clock,
								 bool open);
extern int	miaopi_record_crossings(const MiaopiService *svc, MiaopiAppRow *row,
									const MiaopiClock *clock, TimestampTz now,
									bool open);

#endif							/* MIAOPI_CLOCK_H */
