import { ConfigError, loadConfig } from '../../src/config/config';

describe('calls configuration', () => {
  it('has the documented defaults and no webhook unless one is set', () => {
    expect(loadConfig({}).calls).toEqual({
      telephonyWebhookUrl: undefined,
      telephonyWebhookToken: undefined,
      webhookTimeoutMs: 10_000,
      maxAttempts: 3,
      retrySpacingSeconds: 1_800,
      outcomeTimeoutSeconds: 3_600,
      batchSize: 50,
    });
    expect(loadConfig({ TELEPHONY_WEBHOOK_URL: 'https://tel.example/calls' }).calls.telephonyWebhookUrl).toBe('https://tel.example/calls');
  });

  it('names every bad value at once and never echoes the webhook URL (it may carry credentials)', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        TELEPHONY_WEBHOOK_URL: 'ftp://tel.example',
        CALL_MAX_ATTEMPTS: '0',
        CALL_RETRY_SPACING_SECONDS: 'soon',
        CALL_BATCH_SIZE: '2.5',
        TELEPHONY_WEBHOOK_TIMEOUT_MS: '5',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.variable).sort()).toEqual([
      'CALL_BATCH_SIZE',
      'CALL_MAX_ATTEMPTS',
      'CALL_RETRY_SPACING_SECONDS',
      'TELEPHONY_WEBHOOK_TIMEOUT_MS',
      'TELEPHONY_WEBHOOK_URL',
    ]);
    expect(error!.message).not.toContain('ftp://tel.example');
  });
});
