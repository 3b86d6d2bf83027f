// "Test login" without reloading the page, so keys typed into the form stay in the browser
// (the server never sends a stored secret back). Without this script the button submits the form.
(function () {
  var form = document.getElementById('account-form');
  var button = document.getElementById('test-login');
  if (!form || !button || !window.fetch) return;
  var result = document.getElementById('login-result');
  var screenName = document.getElementById('screenName');
  var userId = document.getElementById('xUserId');

  function show(kind, text) {
    result.className = kind;
    result.textContent = text;
  }

  // A message about one field stands beside it, as the server's own page puts it.
  function clearFieldMessages() {
    var shown = form.querySelectorAll('.field-error[data-from-test]');
    for (var i = 0; i < shown.length; i++) shown[i].parentNode.removeChild(shown[i]);
    var marked = form.querySelectorAll('[aria-invalid][data-marked-by-test]');
    for (var j = 0; j < marked.length; j++) { marked[j].removeAttribute('aria-invalid'); marked[j].removeAttribute('data-marked-by-test'); }
  }

  function showBeside(field, text) {
    var input = document.getElementById(field);
    var block = input && input.closest('.field');
    if (!block) return false;
    var message = document.createElement('p');
    message.className = 'field-error';
    message.setAttribute('data-from-test', '');
    message.id = field + '-test-error';
    message.textContent = text;
    block.appendChild(message);
    input.setAttribute('aria-describedby', message.id);
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('data-marked-by-test', '');
    return true;
  }

  button.addEventListener('click', function (event) {
    event.preventDefault();
    button.disabled = true;
    clearFieldMessages();
    show('form-pending', 'Testing the login…');
    fetch('/accounts/test-login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { accept: 'application/json' },
      body: new URLSearchParams(new FormData(form)),
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.ok && answer.issuedOnSave) {
          show('form-note', answer.issuedOnSave);
        } else if (answer.ok) {
          screenName.textContent = '@' + answer.screenName;
          userId.textContent = answer.xUserId;
          show('form-success', 'Login test passed: logged in as @' + answer.screenName + '.');
        } else if (answer.field && showBeside(answer.field, answer.error)) {
          show('field-error', 'The login was not tested: see the message beside the field.');
        } else {
          show('field-error', answer.error);
        }
      })
      .catch(function () { show('field-error', 'The server could not be reached; try again.'); })
      .then(function () { button.disabled = false; });
  });
})();
