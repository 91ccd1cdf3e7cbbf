// API: the relay's /api/rooms JSON.

/** All rooms; throws when the relay cannot be reached. */
export async function fetchRooms(signal) {
  const res = await fetch('/api/rooms', { cache: 'no-store', signal });
  if (!res.ok) throw new Error(`rooms: HTTP ${res.status}`);
  const body = await res.json();
  return body.rooms || [];
}

/** One room, or null when the relay does not know it (yet). */
export async function fetchRoom(name, signal) {
  const rooms = await fetchRooms(signal);
  return rooms.find((r) => r.name === name) || null;
}

/** The caption languages a room offers, in the relay's order. */
export function roomLanguages(room) {
  return (room?.captions || []).filter((c) => c.announced).map((c) => c.lang);
}
