// The typed run events as the window passes them between objects: registered with Qt's meta-type
// system (signals, queued connections, QSignalSpy), and `Overloaded` to visit them with one lambda
// per kind.
#pragma once

#include <QMetaType>

#include "attnbench/events.h"

namespace attnbench::ui {

// std::visit(Overloaded{[](const RunStartedEvent&) {...}, ...}, event): one lambda per alternative.
template <class... Handlers>
struct Overloaded : Handlers... {
  using Handlers::operator()...;
};
template <class... Handlers>
Overloaded(Handlers...) -> Overloaded<Handlers...>;

// Registers RunEvent for queued connections and QVariant (idempotent; the constructors call it).
void registerRunEventType();

}  // namespace attnbench::ui

Q_DECLARE_METATYPE(attnbench::RunEvent)
