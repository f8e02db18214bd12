import { defineJob } from '../define';
import { UploadedFilePayload } from '../../schemas/common';

export default defineJob({
  description: 'Make a 512×512 WebP of an uploaded profile picture',
  schema: UploadedFilePayload('OptimizeProfilePicturePayload'),
  example: { userId: 'user-123', fileKey: 'avatars/user-123.jpg' },
  keyField: 'fileKey',
  // Searchable by whose file it is; the file key itself (a path) is not kept.
  ledgerKey: 'userId',
  keepResult: true,
  // A new picture under the same key is converted again once the last conversion finished.
  duplicates: 'pending',
  enqueuedBy: 'platform',
  options: ['delay', 'priority'],
});
