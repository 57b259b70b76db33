// The guard of a store whose commits are not fsynced. A process crash loses nothing such a store
// committed (its pages are in the page cache), but a machine crash may leave a meta page on disk
// whose data pages are not: a corrupt store. So while a writable unsynced store is open, the
// file `unsynced` in its directory holds the boot id (/proc/sys/kernel/random/boot_id) it was
// opened under, written durably before the first unsynced commit; a clean close fsyncs the store
// and removes the file. An open that finds the file from another boot knows the store may be
// damaged: the read store and the writer's entity state are rebuilt from the log, an unsynced
// log is refused (it is the source of truth and has nothing to be rebuilt from).
#pragma once

#include <string>

#include "base/result.h"

namespace cqrs::store {

// This boot's id (/proc/sys/kernel/random/boot_id), or Internal if it cannot be read.
Result<std::string> CurrentBootId();

// The boot id in `<dir>/unsynced`, or empty when there is no such file.
std::string ReadUnsyncedGuard(const std::string& dir);

// Writes `<dir>/unsynced` = `boot_id` durably (file, then directory), mode 0600.
Status WriteUnsyncedGuard(const std::string& dir, const std::string& boot_id);

// Removes `<dir>/unsynced` (nothing if absent); call only after the store was fsynced.
void RemoveUnsyncedGuard(const std::string& dir);

// fsync of a file or (with O_DIRECTORY) a directory; Internal naming the path on failure.
Status FsyncPath(const std::string& path, int flags);

}  // namespace cqrs::store
