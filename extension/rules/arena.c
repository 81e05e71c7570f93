/*-------------------------------------------------------------------------
 *
 * arena.c
 *	  A malloc'd chunk arena for the rule compiler.
 *
 * Everything the compiler builds is allocated here and freed at once with
 * mr_arena_destroy; nothing is freed piecemeal.  Chunks come from calloc,
 * and an allocation is never handed out twice, so every allocation is
 * already zeroed.  Requests larger than a quarter of a chunk get a chunk of
 * their own, linked behind the current one so that the current chunk's
 * free tail is not wasted.
 *
 * The arena uses malloc, not palloc, so that the compiler stays free of
 * PostgreSQL; the host ties the arena's lifetime to a memory context.
 *
 * IDENTIFICATION
 *	  extension/rules/arena.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mr.h"

#define MR_ARENA_CHUNK_SIZE		(64 * 1024)
#define MR_ARENA_ALIGN			8

typedef struct MrChunk
{
	struct MrChunk *next;
	size_t		size;			/* usable bytes after the header */
	size_t		used;
} MrChunk;

/* Data starts at a 16-byte boundary after the header */
#define MR_CHUNK_HEADER		((sizeof(MrChunk) + 15) & ~(size_t) 15)

struct MrArena
{
	MrChunk    *head;			/* chunk currently carved from */
	size_t		bytes;			/* total malloc'd, headers included */
};

/*
 * mr_arena_create returns an empty arena, or NULL when out of memory.
 */
MrArena *
mr_arena_create(void)
{
	return calloc(1, sizeof(MrArena));
}

/*
 * mr_arena_destroy frees the arena and everything allocated in it.
 */
void
mr_arena_destroy(MrArena *arena)
{
	MrChunk    *chunk;

	if (arena == NULL)
		return;
	chunk = arena->head;
	while (chunk != NULL)
	{
		MrChunk    *next = chunk->next;

		free(chunk);
		chunk = next;
	}
	free(arena);
}

/* Allocate a chunk with room for at least size bytes */
static MrChunk *
chunk_new(MrArena *arena, size_t size)
{
	MrChunk    *chunk;

	if (size > SIZE_MAX - MR_CHUNK_HEADER)
		return NULL;
	chunk = calloc(1, MR_CHUNK_HEADER + size);
	if (chunk == NULL)
		return NULL;
	chunk->size = size;
	chunk->used = 0;
	arena->bytes += MR_CHUNK_HEADER + size;
	return chunk;
}

/*
 * mr_arena_alloc returns size zeroed bytes aligned to 8, or NULL when out
 * of memory.
 */
void *
mr_arena_alloc(MrArena *arena, size_t size)
{
	MrChunk    *chunk;
	char	   *p;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - MR_ARENA_ALIGN)
		return NULL;
	size = (size + MR_ARENA_ALIGN - 1) & ~(size_t) (MR_ARENA_ALIGN - 1);

	chunk = arena->head;
	if (chunk != NULL && chunk->size - chunk->used >= size)
	{
		p = (char *) chunk + MR_CHUNK_HEADER + chunk->used;
		chunk->used += size;
		return p;
	}

	if (size > MR_ARENA_CHUNK_SIZE / 4)
	{
		/* A big request: its own chunk, behind the current one */
		chunk = chunk_new(arena, size);
		if (chunk == NULL)
			return NULL;
		chunk->used = size;
		if (arena->head != NULL)
		{
			chunk->next = arena->head->next;
			arena->head->next = chunk;
		}
		else
			arena->head = chunk;
		return (char *) chunk + MR_CHUNK_HEADER;
	}

	chunk = chunk_new(arena, MR_ARENA_CHUNK_SIZE);
	if (chunk == NULL)
		return NULL;
	chunk->next = arena->head;
	arena->head = chunk;
	chunk->used = size;
	return (char *) chunk + MR_CHUNK_HEADER;
}

/*
 * mr_arena_strndup copies len bytes of s and adds a NUL.
 */
char *
mr_arena_strndup(MrArena *arena, const char *s, size_t len)
{
	char	   *p;

	if (len == SIZE_MAX)
		return NULL;
	p = mr_arena_alloc(arena, len + 1);
	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * mr_arena_bytes returns the memory the arena holds, for the host's
 * accounting.
 */
size_t
mr_arena_bytes(const MrArena *arena)
{
	return arena == NULL ? 0 : arena->bytes;
}
