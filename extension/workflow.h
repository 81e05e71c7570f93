/*-------------------------------------------------------------------------
 *
 * workflow.h
 *	  The manual workflow's SQL functions (act, pause, resume, extend) live
 *	  in workflow.c and export nothing; what the workflow, the clock and
 *	  the other modules share is in application.h (rows and events) and
 *	  clock.h (steps, dues, crossings).  Arrows run one way:
 *	  workflow -> clock -> application.
 *
 * IDENTIFICATION
 *	  extension/workflow.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_WORKFLOW_H
#define MIAOPI_WORKFLOW_H

#include "application.h"
#include "clock.h"

#endif							/* MIAOPI_WORKFLOW_H */
