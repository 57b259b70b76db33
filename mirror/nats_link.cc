// The NATS connection and the stream operations of the event log's mirror.
#include "mirror/nats_link.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "base/status.h"
#include "wire/aligned_buffer.h"
#include "wire/log_segment.h"
#include "wire/protocol.h"

namespace cqrs::mirror {
namespace {

constexpr const char kMsgIdHeader[] = "Nats-Msg-Id";
constexpr const char kStoreIdHeader[] = "Cqrs-Store-Id";

// InvalidArgument if group or others may read the secret file `path` (config key `key`);
// Unavailable if it is not there.
Status CheckSecretMode(const std::string& path, std::string_view key) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return Error(Code::kUnavailable, "cannot read mirror.{} {}: {}", key, path,
                 std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return Error(Code::kInvalidArgument,
                 "mirror.{} {} may be read by others (mode {:o}): chmod 600 it", key, path,
                 st.st_mode & 0777);
  return OkStatus();
}

// The password in `path`: its first line. InvalidArgument if group or others may read the file,
// or it is empty; Unavailable if it cannot be read.
Result<std::string> ReadSecretFile(const std::string& path) {
  CQRS_RETURN_IF_ERROR(CheckSecretMode(path, "password_file"));
  std::ifstream in(path);
  std::string secret;
  std::getline(in, secret);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (!in && !in.eof())
    return Error(Code::kUnavailable, "cannot read mirror.password_file {}", path);
  if (secret.empty())
    return Error(Code::kInvalidArgument, "mirror.password_file {} is empty", path);
  return secret;
}

}  // namespace

std::string NatsError(natsStatus s, jsErrCode code) {
  std::string out = natsStatus_GetText(s);
  if (code != 0) out += fmt::format(" (JetStream error {})", static_cast<int>(code));
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0') out += fmt::format(": {}", text);
  return out;
}

std::string StreamDescription(std::string_view store_id) {
  return fmt::format("cqrs event log of write store {}", store_id);
}

Result<std::unique_ptr<NatsLink>> NatsLink::Connect(const MirrorConfig& config,
                                                    std::string_view client_name,
                                                    std::uint32_t connect_timeout_ms) {
  std::unique_ptr<NatsLink> link(new NatsLink(config));
  const std::vector<std::string> servers = config.Servers();
  std::vector<const char*> urls;
  for (const std::string& s : servers) urls.push_back(s.c_str());
  const std::string name(client_name);
  natsStatus s = natsOptions_Create(&link->opts_);
  if (s == NATS_OK)
    s = natsOptions_SetServers(link->opts_, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(link->opts_, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(link->opts_, connect_timeout_ms);
  // Reconnect for ever, every 250 ms: the loop above us decides when to give up on a publish.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(link->opts_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(link->opts_, 250);
  // A server cut off (no RST, no FIN) is noticed by pings: 2 unanswered at 1 s intervals, where
  // nats.c's default (2 minutes) would leave every publish timing out for minutes.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(link->opts_, 1000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(link->opts_, 2);
  // nats.c writes block without a deadline by default, holding the connection's lock: a server
  // cut off with a full send buffer stalled every call (the ping timer's write among them) until
  // the link came back. With a deadline the write fails and the connection is dropped.
  if (s == NATS_OK)
    s = natsOptions_SetWriteDeadline(link->opts_,
                                     std::min<std::int64_t>(config.publish_timeout_ms, 2000));
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(link->opts_, true);
  if (s == NATS_OK && !config.user.empty()) {
    auto password = ReadSecretFile(config.password_file);
    if (!password.ok()) return password.status();
    s = natsOptions_SetUserInfo(link->opts_, config.user.c_str(), password->c_str());
  }
  if (s == NATS_OK && !config.nkey.empty()) {
    CQRS_RETURN_IF_ERROR(CheckSecretMode(config.nkey_seed_file, "nkey_seed_file"));
    s = natsOptions_SetNKeyFromSeed(link->opts_, config.nkey.c_str(),
                                    config.nkey_seed_file.c_str());
  }
  if (s == NATS_OK && !config.tls_ca.empty()) {
    s = natsOptions_SetSecure(link->opts_, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(link->opts_, config.tls_ca.c_str());
    if (s != NATS_OK)
      return Error(Code::kInvalidArgument, "mirror.tls_ca {}: {}", config.tls_ca, NatsError(s));
  }
  if (s == NATS_OK && !config.tls_cert.empty()) {
    s = natsOptions_LoadCertificatesChain(link->opts_, config.tls_cert.c_str(),
                                          config.tls_key.c_str());
    if (s != NATS_OK)
      return Error(Code::kInvalidArgument, "mirror.tls_cert {} / tls_key {}: {}", config.tls_cert,
                   config.tls_key, NatsError(s));
  }
  if (s != NATS_OK)
    return Error(Code::kInvalidArgument, "NATS options for {}: {}", config.nats, NatsError(s));
  s = natsConnection_Connect(&link->nc_, link->opts_);
  if (s != NATS_OK)
    return Error(Code::kUnavailable, "cannot connect to NATS at {}: {}", config.nats, NatsError(s));
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = config.publish_timeout_ms;
  s = natsConnection_JetStream(&link->js_, link->nc_, &jo);
  if (s != NATS_OK)
    return Error(Code::kUnavailable, "no JetStream context on {}: {}", config.nats, NatsError(s));
  return link;
}

NatsLink::~NatsLink() {
  if (sub_) natsSubscription_Destroy(sub_);
  if (js_) jsCtx_Destroy(js_);
  if (nc_) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  if (opts_) natsOptions_Destroy(opts_);
}

Status NatsLink::EnsureStream(std::string_view store_id) {
  const std::string ours = StreamDescription(store_id);
  const std::string prefix = StreamDescription("");
  for (int attempt = 0; attempt < 2; ++attempt) {
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&info, js_, config_.stream.c_str(), nullptr, &code);
    if (s == NATS_OK) {
      std::string description =
          info->Config && info->Config->Description ? info->Config->Description : "";
      bool subject_found = false;
      if (info->Config)
        for (int i = 0; i < info->Config->SubjectsLen; ++i)
          subject_found = subject_found || subject_ == info->Config->Subjects[i];
      jsStreamInfo_Destroy(info);
      if (description.starts_with(prefix) && description != ours)
        return Error(Code::kAlreadyExists,
                     "NATS stream {} was made for another write store ({}), not this one ({}): "
                     "name another [mirror] stream, or delete that stream",
                     config_.stream, description.substr(prefix.size()), store_id);
      if (!subject_found)
        return Error(Code::kAlreadyExists,
                     "NATS stream {} does not take subject {}: set [mirror] subject to one of "
                     "its subjects, or name another stream",
                     config_.stream, subject_);
      return OkStatus();
    }
    if (code != JSStreamNotFoundErr && s != NATS_NOT_FOUND)
      return Error(Code::kUnavailable, "looking up NATS stream {}: {}", config_.stream,
                   NatsError(s, code));
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {subject_.c_str()};
    cfg.Name = config_.stream.c_str();
    cfg.Description = ours.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Replicas = config_.replicas;
    cfg.MaxMsgSize = static_cast<std::int32_t>(config_.max_message_bytes + 4096);
    code = static_cast<jsErrCode>(0);
    s = js_AddStream(&info, js_, &cfg, nullptr, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(info);
      return OkStatus();
    }
    if (code != JSStreamNameExistErr)
      return Error(Code::kUnavailable, "cannot create NATS stream {} ({} replicas): {}",
                   config_.stream, config_.replicas, NatsError(s, code));
    // Made by someone else since we looked: look again.
  }
  return Error(Code::kUnavailable, "NATS stream {} appears and disappears", config_.stream);
}

Result<StreamTip> NatsLink::ReadTip(std::string_view store_id) {
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&msg, js_, config_.stream.c_str(), subject_.c_str(), nullptr, &code);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return StreamTip{};
  if (s != NATS_OK)
    return Error(Code::kUnavailable, "reading the last message of NATS stream {}: {}",
                 config_.stream, NatsError(s, code));
  std::unique_ptr<natsMsg, void (*)(natsMsg*)> owned(msg, natsMsg_Destroy);
  wire::AlignedBuffer body;
  body.Assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  wire::SegmentHeader header;
  Status checked = wire::ForEachSegmentEvent(
      body.span(), wire::kMaxTrustedFrameBytes, &header,
      [](const fb::Event&, std::span<const std::uint8_t>) { return OkStatus(); });
  if (!checked.ok())
    return Error(Code::kInternal,
                 "the last message of NATS stream {} (stream seq {}) is not a "
                 "cqrs log segment: {}",
                 config_.stream, natsMsg_GetSequence(msg), checked.message());
  if (header.store_id != store_id)
    return Error(Code::kAlreadyExists,
                 "NATS stream {} holds the log of write store {}, not of this one ({}): name "
                 "another [mirror] stream, or delete that stream",
                 config_.stream, header.store_id, store_id);
  StreamTip tip;
  tip.last_seq = header.last_seq;
  tip.stream_seq = natsMsg_GetSequence(msg);
  tip.msg_id = wire::SegmentMsgId(header.first_seq, header.last_seq);
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg, kMsgIdHeader, &id) != NATS_OK || id == nullptr || tip.msg_id != id)
    return Error(Code::kInternal,
                 "the last message of NATS stream {} holds events {}..{} but its {} is '{}'",
                 config_.stream, header.first_seq, header.last_seq, kMsgIdHeader, id ? id : "");
  return tip;
}

Published NatsLink::Publish(std::span<const std::uint8_t> segment, std::string_view store_id,
                            std::uint64_t first_seq, std::uint64_t last_seq, StreamTip* tip,
                            std::string* detail) {
  natsMsg* msg = nullptr;
  natsStatus s =
      natsMsg_Create(&msg, subject_.c_str(), nullptr, reinterpret_cast<const char*>(segment.data()),
                     static_cast<int>(segment.size()));
  if (s != NATS_OK) {
    *detail = NatsError(s);
    return Published::kUncertain;
  }
  std::unique_ptr<natsMsg, void (*)(natsMsg*)> owned(msg, natsMsg_Destroy);
  const std::string id = wire::SegmentMsgId(first_seq, last_seq);
  const std::string store(store_id);
  natsMsgHeader_Set(msg, kStoreIdHeader, store.c_str());
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = id.c_str();
  po.ExpectStream = config_.stream.c_str();
  // The stream refuses the segment unless the tip is still what we read: no gap, no overlap.
  if (tip->stream_seq > 0)
    po.ExpectLastSeq = tip->stream_seq;
  else
    po.ExpectNoMessage = true;
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&ack, js_, msg, &po, &code);
  if (s == NATS_OK) {
    std::unique_ptr<jsPubAck, void (*)(jsPubAck*)> owned_ack(ack, jsPubAck_Destroy);
    if (ack->Duplicate) {
      // Our id was stored before: the tip we read was stale. Never stored twice.
      *detail = fmt::format("segment {} is already in the stream", id);
      return Published::kRefused;
    }
    tip->last_seq = last_seq;
    tip->stream_seq = ack->Sequence;
    tip->msg_id = id;
    return Published::kStored;
  }
  *detail = NatsError(s, code);
  // A JetStream error is a refusal (most often JSStreamWrongLastSequenceErr: the tip moved);
  // no reply at all leaves it open whether the segment was stored.
  return code != 0 ? Published::kRefused : Published::kUncertain;
}

Status NatsLink::Subscribe(std::uint64_t start_stream_seq) {
  if (sub_) {
    natsSubscription_Destroy(sub_);
    sub_ = nullptr;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = config_.stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = std::max<std::uint64_t>(start_stream_seq, 1);
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_SubscribeSync(&sub_, js_, subject_.c_str(), nullptr, &so, &code);
  if (s != NATS_OK) {
    sub_ = nullptr;
    return Error(Code::kUnavailable, "cannot consume NATS stream {} (subject {}): {}",
                 config_.stream, subject_, NatsError(s, code));
  }
  // What nats.c may hold for us between Next calls: the flow-controlled consumer stops the
  // server before this, and past it nats.c drops and the ordered consumer resumes after a gap.
  natsSubscription_SetPendingLimits(sub_, 65536, 64 << 20);
  return OkStatus();
}

Result<NatsMsgPtr> NatsLink::Next(std::int64_t timeout_ms) {
  if (!sub_) return Error(Code::kUnavailable, "not subscribed to NATS stream {}", config_.stream);
  natsMsg* msg = nullptr;
  natsStatus s = natsSubscription_NextMsg(&msg, sub_, std::max<std::int64_t>(timeout_ms, 1));
  if (s == NATS_TIMEOUT) return NatsMsgPtr();
  if (s != NATS_OK)
    return Error(Code::kUnavailable, "consuming NATS stream {}: {}", config_.stream, NatsError(s));
  return NatsMsgPtr(msg);
}

int NatsLink::pending() const {
  int msgs = 0, bytes = 0;
  if (!sub_ || natsSubscription_GetPending(sub_, &msgs, &bytes) != NATS_OK) return 0;
  return msgs;
}

}  // namespace cqrs::mirror
