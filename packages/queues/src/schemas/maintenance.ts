import { Type, type Static } from '@sinclair/typebox';

export const CleanVerificationTokensPayload = Type.Object({}, { additionalProperties: false, $id: 'CleanVerificationTokensPayload' });
export type CleanVerificationTokensPayload = Static<typeof CleanVerificationTokensPayload>;

export const DailyReportPayload = Type.Object({}, { additionalProperties: false, $id: 'DailyReportPayload' });
export type DailyReportPayload = Static<typeof DailyReportPayload>;
