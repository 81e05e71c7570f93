/*-------------------------------------------------------------------------
 *
 * trigger.h
 *	  Checks shared by the decision trigger and evaluate().
 *
 * IDENTIFICATION
 *	  extension/trigger.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_TRIGGER_H
#define MIAOPI_TRIGGER_H

#include "utils/jsonb.h"

#include "service.h"

/* The service and its current ruleset, or the error an agency app sees */
extern const MiaopiService *miaopi_service_or_error(text *code);

/* Refuse a payload that is not a JSON object */
extern void miaopi_check_payload(Jsonb *payload);

#endif							/* MIAOPI_TRIGGER_H */
