/*-------------------------------------------------------------------------
 *
 * commitment.h
 *	  Commitments (告知承诺): verification after an approval.
 *
 * IDENTIFICATION
 *	  extension/commitment.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_COMMITMENT_H
#define MIAOPI_COMMITMENT_H

#include "utils/timestamp.h"

#include "service.h"

/* act(id, 'verify' | 'verify_failed', comment): the new status */
extern const char *miaopi_commitment_act(int64 id, const char *action,
										 const char *comment, const char *actor,
										 TimestampTz now);

/* After a person's approval: start the verification clock, if any */
extern void miaopi_commitment_on_approve(int64 id, const MiaopiService *svc,
										 TimestampTz now);

/* sweep(): record verifications past due; returns how many */
extern int64 miaopi_commitment_sweep(TimestampTz now);

#endif							/* MIAOPI_COMMITMENT_H */
