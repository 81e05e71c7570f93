/*-------------------------------------------------------------------------
 *
 * licence.h
 *	  E-licences (电子证照): issuing on approval, the per-backend validity
 *	  cache behind licence_valid() and or_licence, and status changes.
 *
 * IDENTIFICATION
 *	  extension/licence.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_LICENCE_H
#define MIAOPI_LICENCE_H

#include "nodes/pg_list.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "mr.h"

/* Reason code of an approval that cannot issue its licence (no end date) */
#define MIAOPI_LICENCE_UNTIL_CHECK "licence_valid_until"

/* One e-licence an application relied on (licence_use) */
typedef struct MiaopiLicenceUse
{
	int64		licence_id;
	char	   *purpose;		/* "material:<name>" or "check:<id>" */
} MiaopiLicenceUse;

/* What an approval needs to issue its licence */
typedef struct MiaopiIssue
{
	const MrService *svc;		/* the compiled service (its licence section) */
	int64		application_id;
	const char *applicant_id;
	int			applicant_id_len;
	const char *applicant_name; /* may be NULL */
	int			applicant_name_len;
	Datum		payload;		/* jsonb */
	const char *calendar;		/* the service's calendar (time zone) */
	TimestampTz now;
	DateADT		valid_until;
	const char *actor;			/* decided_by */
	const char *status;			/* the application's status after approval */
} MiaopiIssue;

/* codes.c */
extern char miaopi_mod37_36_check(const char *s, size_t len);

/* licence.c */

/*
 * The id of a licence of type held by holder that is valid on day, or 0.
 * Answered from the per-backend cache; a miss reads miaopi.licence once.
 */
extern int64 miaopi_licence_find_valid(const char *type, int typelen,
									   const char *holder, int holderlen,
									   DateADT day);

/* Issue the licence of an approval; returns the licence id.  Inside SPI. */
extern int64 miaopi_licence_issue(const MiaopiIssue *issue);

/* Issue the licence of an application approved by a person (act), or 0 */
extern int64 miaopi_licence_issue_approved(int64 application_id, TimestampTz now,
										   const char *actor);

/* Record the licences an application relied on.  Inside SPI. */
extern void miaopi_licence_record_uses(int64 application_id, List *uses,
									   TimestampTz now, const char *actor,
									   const char *status);

/* Holder type of GB/T 36904: "001" USCC, "111" resident ID, "999" other */
extern const char *miaopi_holder_type(const char *id, int len);

#endif							/* MIAOPI_LICENCE_H */
