// Messages without copies: Channel::receive(deadline) gives a Message, Channel::loan a Loan
// (channel.hpp). The transport leaves the message where it is (shm://: in the sender's ring)
// or uses a buffer of the end's (the defaults here). A Loan or a Message keeps its end taken
// (the one-thread check) from the call that made it until it is sent or released: one at a
// time, no other call meanwhile, and one atomic exchange per message, as for send.

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "../sys.hpp"
#include "ipckit/channel.hpp"
#include "transport.hpp"

namespace ipckit {
namespace {

// Gives the end back once a Loan or a Message is done with it, however that ends.
class GiveBack {
 public:
  explicit GiveBack(Channel::Transport& transport) noexcept : transport_(transport) {}
  GiveBack(const GiveBack&) = delete;
  GiveBack& operator=(const GiveBack&) = delete;
  ~GiveBack() {
    transport_.lend(false);
    transport_.release();
  }

 private:
  Channel::Transport& transport_;
};

}  // namespace

Message Channel::receive(Deadline deadline) {
  if (!transport_) sys::fail("Channel::receive", "a moved-from channel", EBADF);
  if (!transport_->listener()) {
    sys::fail("Channel::receive", transport_->url(), EBADF,
              "this end was made by connect() and sends; receive on the end made by listen()");
  }
  detail::OneThreadAtATime one(*transport_, "Channel::receive");
  std::span<const std::byte> view;
  const IoResult r = transport_->receive_in_place(deadline, view);
  if (!r.ok()) return Message{nullptr, r.status, {}};
  one.keep();  // the Message holds the end until it is released
  return Message{transport_.get(), IoStatus::ok, view};
}

Loan Channel::loan(std::size_t size, Deadline deadline) {
  if (!transport_) sys::fail("Channel::loan", "a moved-from channel", EBADF);
  if (transport_->listener()) {
    sys::fail("Channel::loan", transport_->url(), EBADF,
              "this end was made by listen() and receives; loan on an end made by connect()");
  }
  if (size > transport_->max_message()) {
    sys::fail("Channel::loan", transport_->url(), EMSGSIZE,
              "a loan of " + std::to_string(size) + " bytes; this channel carries at most " +
                  std::to_string(transport_->max_message()) + " (max_message())");
  }
  detail::OneThreadAtATime one(*transport_, "Channel::loan");
  std::span<std::byte> room;
  const IoResult r = transport_->loan(size, deadline, room);
  if (!r.ok()) return Loan{nullptr, r.status, {}, deadline};
  one.keep();  // the Loan holds the end until it is sent or abandoned
  return Loan{transport_.get(), IoStatus::ok, room, deadline};
}

// --- Message ---------------------------------------------------------------------------------

Message::Message(Message&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      status_(other.status_),
      bytes_(std::exchange(other.bytes_, {})) {}

Message& Message::operator=(Message&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    status_ = other.status_;
    bytes_ = std::exchange(other.bytes_, {});
  }
  return *this;
}

void Message::release() noexcept {
  bytes_ = {};
  Channel::Transport* owner = std::exchange(owner_, nullptr);
  if (owner == nullptr) return;
  const GiveBack give_back(*owner);
  owner->release_message();
}

// --- Loan ------------------------------------------------------------------------------------

Loan::Loan(Loan&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      status_(other.status_),
      bytes_(std::exchange(other.bytes_, {})),
      deadline_(other.deadline_) {}

Loan& Loan::operator=(Loan&& other) noexcept {
  if (this != &other) {
    abandon();
    owner_ = std::exchange(other.owner_, nullptr);
    status_ = other.status_;
    bytes_ = std::exchange(other.bytes_, {});
    deadline_ = other.deadline_;
  }
  return *this;
}

IoResult Loan::send(std::size_t size) {
  if (owner_ == nullptr) {
    sys::fail("Loan::send", "a loan", EINVAL,
              status_ == IoStatus::ok ? "this loan was sent or abandoned already"
                                      : std::string("this loan has no room: it came back ") + to_string(status_));
  }
  if (size > bytes_.size()) {
    sys::fail("Loan::send", owner_->url(), EMSGSIZE,
              std::to_string(size) + " bytes from a loan of " + std::to_string(bytes_.size()));
  }
  Channel::Transport* owner = std::exchange(owner_, nullptr);
  const std::span<std::byte> room = std::exchange(bytes_, {});
  const GiveBack give_back(*owner);
  return owner->commit_loan(room, size, deadline_);
}

void Loan::abandon() noexcept {
  bytes_ = {};
  Channel::Transport* owner = std::exchange(owner_, nullptr);
  if (owner == nullptr) return;
  const GiveBack give_back(*owner);
  owner->abandon_loan();
}

// --- The transports' defaults: a buffer of the end's ------------------------------------------

IoResult Channel::Transport::receive_in_place(Deadline deadline, std::span<const std::byte>& view) {
  // Not value-initialised: the kernel gives the pages as messages first touch them.
  if (!inbox_) inbox_.reset(new std::byte[max_message_]);  // NOLINT(cppcoreguidelines-owning-memory)
  const IoResult r = receive({inbox_.get(), max_message_}, deadline);
  if (r.ok()) view = {inbox_.get(), r.bytes};
  return r;
}

IoResult Channel::Transport::loan(std::size_t size, Deadline, std::span<std::byte>& room) {
  if (outbox_size_ < size) {
    outbox_.reset(new std::byte[size]);  // NOLINT(cppcoreguidelines-owning-memory)
    outbox_size_ = size;
  }
  room = {outbox_.get(), size};
  return {};
}

}  // namespace ipckit
