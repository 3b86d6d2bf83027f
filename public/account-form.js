// "Test login" without reloading the page, so keys typed into the form stay in the browser
// (the server never sends a secret back). Without this script the button submits the form.
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

  button.addEventListener('click', function (event) {
    event.preventDefault();
    button.disabled = true;
    show('form-pending', 'Testing the login…');
    fetch('/accounts/test-login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { accept: 'application/json' },
      body: new URLSearchParams(new FormData(form)),
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.ok) {
          screenName.textContent = '@' + answer.screenName;
          userId.textContent = answer.xUserId;
          show('form-success', 'Login test passed: logged in as @' + answer.screenName + '.');
        } else {
          show('field-error', answer.error);
        }
      })
      .catch(function () { show('field-error', 'The server could not be reached; try again.'); })
      .then(function () { button.disabled = false; });
  });
})();
