import type { Database } from '../../src/db/database';
import { cancelAppointment, createAppointment, moveAppointment, setAppointmentOutcome } from '../../src/crm/appointments/appointment-reminders';
import { openMigratedDatabase } from '../support/harness';
import { createTestDatabase, type TestDatabase } from '../support/services';
import { addContacts, addTenant, contactId } from './crm-fixtures';

const HOUR = 3_600_000;

describe('appointment reminders: scheduled at exact times when an appointment is created, moved or cancelled', () => {
  let testDb: TestDatabase;
  let db: Database;
  const reminders = async (appointmentId: string) =>
    (
      await db.query<{ idempotency_key: string; status: string; scheduled_at: Date; starts: string }>(
        `SELECT idempotency_key, status, scheduled_at, variables->'appointment'->>'startsAt' AS starts
           FROM scheduled_messages WHERE type = 'appointment-reminder' AND idempotency_key LIKE $1 ORDER BY id`,
        [`appt:${appointmentId}:%`],
      )
    ).rows.map((r) => ({ key: r.idempotency_key, status: r.status, at: new Date(r.scheduled_at).toISOString(), starts: r.starts }));

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openMigratedDatabase('postgres', testDb.url);
    await addTenant(db, 'clinic');
    await addContacts(db, 'clinic', 2);
  });
  afterAll(async () => {
    await db.close();
    await testDb.drop();
  });

  it('creating an appointment puts its 24h and 3h reminders in the outbox at exactly those times', async () => {
    const startsAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 48 * HOUR);
    const appointment = await createAppointment(db, { tenantId: 'clinic', contactId: contactId('clinic', 1), startsAt, title: 'Check-up' });
    expect(await reminders(appointment.id)).toEqual([
      { key: `appt:${appointment.id}:24h`, status: 'scheduled', at: new Date(startsAt.getTime() - 24 * HOUR).toISOString(), starts: startsAt.toISOString() },
      { key: `appt:${appointment.id}:3h`, status: 'scheduled', at: new Date(startsAt.getTime() - 3 * HOUR).toISOString(), starts: startsAt.toISOString() },
    ]);
    const message = await db.query(`SELECT recipient, channel, subject FROM scheduled_messages WHERE idempotency_key = $1`, [`appt:${appointment.id}:24h`]);
    expect(message.rows).toEqual([{ recipient: 'user1@clinic.test', channel: 'email', subject: 'Reminder: {{ appointment.title }} tomorrow' }]);
  });

  it("reminder text shows the time in the tenant's zone", async () => {
    await addTenant(db, 'ny-clinic', { timezone: 'America/New_York' });
    await addContacts(db, 'ny-clinic', 1);
    // 15 January of next year, 10:00 in New York: always in the future and always EST (no
    // daylight saving in January), so the expected text does not depend on today's date.
    const year = new Date().getUTCFullYear() + 1;
    const startsAt = new Date(`${year}-01-15T15:00:00Z`);
    const weekday = new Intl.DateTimeFormat('en-US', { weekday: 'short', timeZone: 'UTC' }).format(startsAt);
    const appointment = await createAppointment(db, {
      tenantId: 'ny-clinic',
      contactId: contactId('ny-clinic', 1),
      startsAt,
    });
    const local = await db.query(`SELECT variables->'appointment'->>'localStartsAt' AS local FROM scheduled_messages WHERE idempotency_key = $1`, [
      `appt:${appointment.id}:3h`,
    ]);
    expect(local.rows).toEqual([{ local: `${weekday}, Jan 15, ${year}, 10:00 AM EST` }]);
  });

  it('moving an appointment moves its reminders: the old ones are cancelled, new ones carry the new time', async () => {
    const startsAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 72 * HOUR);
    const appointment = await createAppointment(db, { tenantId: 'clinic', contactId: contactId('clinic', 2), startsAt });
    const movedTo = new Date(startsAt.getTime() + 26 * HOUR);
    const moved = await moveAppointment(db, appointment.id, movedTo);
    expect(moved.version).toBe(1);
    const all = await reminders(appointment.id);
    expect(all).toEqual([
      expect.objectContaining({ key: `appt:${appointment.id}:24h`, status: 'cancelled' }),
      expect.objectContaining({ key: `appt:${appointment.id}:3h`, status: 'cancelled' }),
      { key: `appt:${appointment.id}:v1:24h`, status: 'scheduled', at: new Date(movedTo.getTime() - 24 * HOUR).toISOString(), starts: movedTo.toISOString() },
      { key: `appt:${appointment.id}:v1:3h`, status: 'scheduled', at: new Date(movedTo.getTime() - 3 * HOUR).toISOString(), starts: movedTo.toISOString() },
    ]);

    // Moved to 10 hours from now: the 24h reminder's time has passed, so only the 3h one is kept.
    const soon = new Date(Math.floor(Date.now() / 1000) * 1000 + 10 * HOUR);
    await moveAppointment(db, appointment.id, soon);
    const live = (await reminders(appointment.id)).filter((r) => r.status === 'scheduled');
    expect(live).toEqual([
      { key: `appt:${appointment.id}:v2:3h`, status: 'scheduled', at: new Date(soon.getTime() - 3 * HOUR).toISOString(), starts: soon.toISOString() },
    ]);
  });

  it('cancelling an appointment removes its pending reminders; a reminder already sent stays sent', async () => {
    const startsAt = new Date(Date.now() + 30 * HOUR);
    const appointment = await createAppointment(db, { tenantId: 'clinic', contactId: contactId('clinic', 1), startsAt });
    // The delivery engine already sent the 24h reminder.
    await db.query(`UPDATE scheduled_messages SET status = 'sent', sent_at = now() WHERE idempotency_key = $1`, [`appt:${appointment.id}:24h`]);
    const result = await cancelAppointment(db, appointment.id);
    expect(result.remindersCancelled).toBe(1);
    expect(result.appointment.status).toBe('cancelled');
    expect((await reminders(appointment.id)).map((r) => [r.key, r.status])).toEqual([
      [`appt:${appointment.id}:24h`, 'sent'],
      [`appt:${appointment.id}:3h`, 'cancelled'],
    ]);
    await expect(moveAppointment(db, appointment.id, new Date(Date.now() + 50 * HOUR))).rejects.toThrow('is cancelled');
    // Cancelling twice is harmless.
    expect((await cancelAppointment(db, appointment.id)).remindersCancelled).toBe(0);
  });

  it('refuses an unknown contact without writing anything, and records outcomes', async () => {
    await expect(createAppointment(db, { tenantId: 'clinic', contactId: 'nobody', startsAt: new Date(Date.now() + 48 * HOUR) })).rejects.toThrow(
      'contactId: contact nobody not found',
    );
    const kept = await createAppointment(db, { tenantId: 'clinic', contactId: contactId('clinic', 1), startsAt: new Date(Date.now() + HOUR) });
    expect(await reminders(kept.id)).toEqual([]); // both reminder times already passed
    expect((await setAppointmentOutcome(db, kept.id, 'completed')).status).toBe('completed');
    await expect(setAppointmentOutcome(db, kept.id, 'no-show')).rejects.toThrow('is completed');
  });
});
